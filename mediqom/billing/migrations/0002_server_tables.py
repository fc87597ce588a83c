"""Our own billing tables: checkout sessions by user, processed Stripe events, beta attempts."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0001_initial'),
        ('records', '0007_profiles_email_case_insensitive_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='BetaAttempt',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('ip_digest', models.TextField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'db_table': 'billing_beta_attempts',
                'indexes': [models.Index(fields=['ip_digest', 'created_at'], name='billing_beta_ip_idx')],
            },
        ),
        migrations.CreateModel(
            name='StripeEvent',
            fields=[
                ('id', models.TextField(primary_key=True, serialize=False)),
                ('type', models.TextField()),
                ('created', models.DateTimeField()),
                ('object_id', models.TextField(blank=True, null=True)),
                ('user_id', models.UUIDField(blank=True, null=True)),
                ('outcome', models.TextField()),
                ('detail', models.TextField(blank=True, default='')),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'db_table': 'billing_stripe_events',
                'indexes': [models.Index(fields=['object_id', 'created'], name='billing_stripe_object_idx')],
            },
        ),
        migrations.CreateModel(
            name='CheckoutSession',
            fields=[
                ('id', models.TextField(primary_key=True, serialize=False)),
                ('mode', models.TextField()),
                ('ui_mode', models.TextField(default='hosted')),
                ('tier_id', models.TextField(blank=True, null=True)),
                ('billing_cycle', models.TextField(blank=True, null=True)),
                ('pack_id', models.TextField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user_id', models.UUIDField()),
            ],
            options={
                'db_table': 'billing_checkout_sessions',
                'indexes': [models.Index(fields=['user_id'], name='billing_checkout_user_idx')],
            },
        ),
    ]

"""Mediqom's own billing tables (`purchase_history`, `beta_applications`; contract §5.2, §5.3).

On an existing Mediqom database both exist: `migrate --fake-initial` records this migration.
"""

import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('records', '0007_profiles_email_case_insensitive_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='BetaApplication',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('status', models.TextField(choices=[('pending', 'Pending'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('converted', 'Converted')], db_index=True, default='pending')),
                ('admin_notes', models.TextField(blank=True, null=True)),
                ('user_type', models.TextField(choices=[('family', 'family'), ('provider', 'provider'), ('developer', 'developer'), ('organization', 'organization')])),
                ('problem_description', models.TextField()),
                ('current_solution', models.TextField()),
                ('data_volume', models.TextField(choices=[('1-10', '1-10'), ('11-50', '11-50'), ('51-200', '51-200'), ('200+', '200+')])),
                ('timeline', models.TextField(choices=[('immediately', 'immediately'), ('week', 'week'), ('month', 'month'), ('exploring', 'exploring')])),
                ('name', models.TextField()),
                ('email', models.TextField(unique=True)),
                ('phone', models.TextField(blank=True, null=True)),
                ('organization', models.TextField(blank=True, null=True)),
                ('country', models.TextField(choices=[('CZ', 'CZ'), ('DE', 'DE'), ('US', 'US')])),
                ('language', models.TextField(choices=[('en', 'en'), ('cs', 'cs'), ('de', 'de')])),
                ('additional_info', models.TextField(blank=True, null=True)),
                ('beta_agreement', models.BooleanField(default=False)),
                ('feedback_agreement', models.BooleanField(default=False)),
                ('confidentiality_agreement', models.BooleanField(default=False)),
                ('terms_agreement', models.BooleanField(default=False)),
                ('email_sent_at', models.DateTimeField(blank=True, null=True)),
                ('approved_at', models.DateTimeField(blank=True, null=True)),
                ('approved_by', models.UUIDField(blank=True, null=True)),
                ('profile_id', models.UUIDField(blank=True, null=True)),
            ],
            options={
                'db_table': 'beta_applications',
                'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ('pending', 'approved', 'rejected', 'converted'))), name='beta_applications_status_check')],
            },
        ),
        migrations.CreateModel(
            name='PurchaseEvent',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('event_type', models.TextField()),
                ('source', models.TextField()),
                ('amount', models.IntegerField(blank=True, null=True)),
                ('currency', models.TextField(blank=True, default='EUR', null=True)),
                ('external_id', models.TextField(blank=True, db_index=True, null=True)),
                ('tier_id', models.TextField(blank=True, null=True)),
                ('scans_added', models.IntegerField(blank=True, null=True)),
                ('idempotency_key', models.TextField(blank=True, null=True, unique=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('user_id', models.UUIDField()),
            ],
            options={
                'db_table': 'purchase_history',
                'indexes': [models.Index(fields=['user_id'], name='purchase_history_user_idx')],
            },
        ),
    ]

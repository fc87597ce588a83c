"""SERENITY therapeutic form scoring: transcript -> form responses, score, interpretation."""

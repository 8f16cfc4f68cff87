"""Daily wearable data: coverage, activity, resting HR and HRV readiness."""

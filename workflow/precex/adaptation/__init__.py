"""Weekly adaptation of a prescription from wearable and symptom data (precex adapt)."""

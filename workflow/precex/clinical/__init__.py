"""Clinical context, body composition and fitness from the patient sheet."""

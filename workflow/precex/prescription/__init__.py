"""Prescription engine: rule base, safety caps, concrete FITT-VP plan, FHIR output."""

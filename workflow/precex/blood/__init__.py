"""Blood markers: catalogue, unit harmonisation, value selection, derived indices, FHIR input."""

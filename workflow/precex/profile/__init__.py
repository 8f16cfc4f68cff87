"""Host profile: all modalities merged per patient, by domain."""

"""Daily wearable data: coverage, activity, resting HR and HRV readiness."""


def provided_features() -> set[str]:
    """Every feature name the wearables stage gives the host profile."""
    return {"wear_days", "wear_coverage", "steps_mean", "mvpa_min_per_week",
            "resting_hr_mean_bpm", "sleep_h_mean", "lnrmssd_today", "lnrmssd_mean_7d",
            "lnrmssd_sd_7d", "hrv_readings_7d", "hrv_readiness", "resting_hr_recent_bpm",
            "resting_hr_recent_days", "hrv_sdnn_mean_ms", "wearable_sources"}

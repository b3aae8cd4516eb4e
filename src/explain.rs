//! Why two archives differ (placeholder).

//! Serde helpers that write time zones and durations as human-readable text.

/// A [`chrono_tz::Tz`] as its IANA name, e.g. `"Europe/London"`; read with
/// [`crate::parse_timezone`] (so typos get suggestions).
pub(crate) mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(tz.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(deserializer)?;
        crate::parse_timezone(&name).map_err(serde::de::Error::custom)
    }

    /// The zone used when none is given.
    pub(crate) fn utc() -> Tz {
        Tz::UTC
    }
}

/// A [`std::time::Duration`] in [`crate::format_duration`] form, e.g. `"1h30m"`; read with
/// [`crate::parse_duration`].
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::format_duration(*duration))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

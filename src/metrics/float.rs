//! Floats that may be NaN or infinite (a diverged run's loss), in JSON: a number when
//! finite, else the string `"NaN"`, `"inf"` or `"-inf"`; `null` reads as NaN (what older
//! manifests hold). JSON has no NaN, and serde_json writes one as `null`, which could not
//! be read back into an `f64`.

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `value` as a number, or as its name when it is not finite.
pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    match value {
        v if v.is_finite() => s.serialize_f64(*v),
        v if v.is_nan() => s.serialize_str("NaN"),
        v if *v > 0.0 => s.serialize_str("inf"),
        _ => s.serialize_str("-inf"),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Number(f64),
    Name(String),
    Null(()),
}

/// Reads what [`serialize`] writes, and `null` as NaN.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Written::deserialize(d)? {
        Written::Number(v) => Ok(v),
        Written::Null(()) => Ok(f64::NAN),
        Written::Name(name) => match name.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not a number (expected a number, \"NaN\", \"inf\" or \"-inf\")"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Loss(#[serde(with = "super")] f64);

    #[test]
    fn every_float_reads_back_as_written() {
        for v in [
            1.5,
            0.0,
            -2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
        ] {
            let text = serde_json::to_string(&Loss(v)).unwrap();
            let back: Loss = serde_json::from_str(&text).unwrap();
            assert!(
                back.0 == v || (v.is_nan() && back.0.is_nan()),
                "{v} -> {text}"
            );
        }
        let null: Loss = serde_json::from_str("null").unwrap();
        assert!(null.0.is_nan());
        assert!(serde_json::from_str::<Loss>("\"nope\"").is_err());
    }
}

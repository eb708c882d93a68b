//! Naming a compute device: what a `--device` flag parses into.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where matrices live and kernels run.
///
/// ```
/// use elbo::backend::Device;
///
/// assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
/// assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
/// assert_eq!("cuda:1".parse::<Device>().unwrap(), Device::Cuda(1));
/// assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
/// assert_eq!("emulated:2".parse::<Device>().unwrap(), Device::Emulated(2));
/// assert!("gpu".parse::<Device>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
pub enum Device {
    /// The host's cores (the default): nalgebra matrices and the crate's own kernels.
    #[default]
    Cpu,
    /// The NVIDIA GPU of this ordinal (0 for the first), through the `cuda` feature.
    Cuda(usize),
    /// A device emulated in host memory, of this ordinal: values are held as device matrices
    /// and every operation takes the device code path, with the CPU backend's kernels. It
    /// computes what the CPU does (to rounding), more slowly; it is for testing, without a GPU,
    /// that a model runs on a device. Emulated devices of different ordinals keep their values
    /// apart as GPUs do (an operation handed another's matrix panics), so that training across
    /// several devices can be tested on one machine.
    Emulated(usize),
}

impl Device {
    /// Checks that this device can be used by this build on this machine, without keeping it
    /// open: the CPU always can; a GPU needs the `cuda` feature, the NVIDIA driver, cuBLAS,
    /// NVRTC and a device of that ordinal.
    ///
    /// # Errors
    /// [`Error::DeviceUnavailable`], saying which of those is missing and what to do.
    pub fn check(self) -> Result<()> {
        match self {
            Device::Cpu | Device::Emulated(_) => Ok(()),
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) => super::cuda::shared(ordinal).map(drop),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => Err(Error::DeviceUnavailable {
                device: self.to_string(),
                reason: "this build of elbo has no CUDA backend: build it with `--features cuda`"
                    .into(),
            }),
        }
    }
}

impl Device {
    /// Bytes of the device's memory in use (by every process, the driver's context included),
    /// where the device reports it: a GPU does, the CPU and the emulated device do not.
    pub fn memory_used(self) -> Option<u64> {
        match self {
            Device::Cpu | Device::Emulated(_) => None,
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) => super::cuda::shared(ordinal).ok()?.memory_used().ok(),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => None,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
            Device::Emulated(ordinal) => write!(f, "emulated:{ordinal}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `cpu`, `cuda` (the first GPU), `cuda:N`, `emulated` (`emulated:0`) or `emulated:N`.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "device",
                s,
                "`cpu`, `cuda`, `cuda:N` (N = 0, 1, ...), `emulated` or `emulated:N`",
            )
        };
        let ordinal = |prefix: &str| {
            s.trim()
                .strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
        };
        match s.trim() {
            "cpu" => Ok(Device::Cpu),
            "emulated" => Ok(Device::Emulated(0)),
            "cuda" => Ok(Device::Cuda(0)),
            _ => ordinal("cuda:")
                .map(Device::Cuda)
                .or_else(|| ordinal("emulated:").map(Device::Emulated))
                .ok_or_else(invalid),
        }
    }
}

/// Reads what [`Serialize`] writes (`"Cpu"`, `{"Cuda": 0}`, `{"Emulated": 1}`) and what
/// checkpoints written before emulated devices had ordinals hold (`"Emulated"`, device 0).
impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Unit(String),
            WithOrdinal(WithOrdinal),
        }
        #[derive(Deserialize)]
        enum WithOrdinal {
            Cuda(usize),
            Emulated(usize),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Unit(name) => match name.as_str() {
                "Cpu" => Ok(Device::Cpu),
                "Emulated" => Ok(Device::Emulated(0)),
                other => Err(serde::de::Error::unknown_variant(
                    other,
                    &["Cpu", "Emulated"],
                )),
            },
            Stored::WithOrdinal(WithOrdinal::Cuda(n)) => Ok(Device::Cuda(n)),
            Stored::WithOrdinal(WithOrdinal::Emulated(n)) => Ok(Device::Emulated(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_what_is_valid() {
        for device in [
            Device::Cpu,
            Device::Cuda(0),
            Device::Cuda(7),
            Device::Emulated(0),
            Device::Emulated(3),
        ] {
            assert_eq!(device.to_string().parse::<Device>().unwrap(), device);
            let json = serde_json::to_string(&device).unwrap();
            assert_eq!(serde_json::from_str::<Device>(&json).unwrap(), device);
        }
        assert_eq!("emulated".parse::<Device>().unwrap(), Device::Emulated(0));
        // As checkpoints wrote it before emulated devices had ordinals.
        let old: Device = serde_json::from_str("\"Emulated\"").unwrap();
        assert_eq!(old, Device::Emulated(0));
        assert!(serde_json::from_str::<Device>("\"Gpu\"").is_err());
        for bad in [
            "",
            "gpu",
            "cuda:",
            "cuda:-1",
            "cuda:x",
            "CPU",
            "emulated:",
            "emulated:y",
        ] {
            let message = bad.parse::<Device>().unwrap_err().to_string();
            assert!(message.contains("cuda:N"), "{bad:?}: {message}");
        }
        assert!(Device::Cpu.check().is_ok());
        assert!(Device::Emulated(1).check().is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_gpu_without_the_feature_is_a_clear_error() {
        let message = Device::Cuda(0).check().unwrap_err().to_string();
        assert!(message.contains("--features cuda"), "{message}");
    }
}

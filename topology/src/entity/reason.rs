//! Status reasons as a closed set with an escape hatch.
//!
//! The kubelet and the controllers report a small vocabulary of reasons (`CrashLoopBackOff`, `OOMKilled`,
//! `Evicted`…). Naming them as enum variants does two things: the health rules match on types instead of string
//! literals, and a reason costs one byte on the wire, which is what keeps a pod status patch under its budget.
//! Anything else the cluster says survives verbatim in [`Reason::Other`].

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident),* $(,)?) => {
        /// A container, pod or condition reason as Kubernetes prints it.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
            /// Any reason not in the known set, verbatim.
            Other(String),
        }

        impl Reason {
            /// The reason as Kubernetes spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Reason::$variant => stringify!($variant),)*
                    Reason::Other(s) => s,
                }
            }

            /// The known variant with this spelling, or [`Reason::Other`].
            pub fn parse(s: &str) -> Reason {
                match s {
                    $(stringify!($variant) => Reason::$variant,)*
                    other => Reason::Other(other.to_owned()),
                }
            }
        }
    };
}

reasons! {
    /// Waiting: the runtime is creating the container.
    ContainerCreating,
    /// Waiting: init containers are still running.
    PodInitializing,
    /// Waiting: the container keeps exiting and the kubelet backs off restarting it.
    CrashLoopBackOff,
    /// Waiting: pulling the image failed repeatedly.
    ImagePullBackOff,
    /// Waiting: pulling the image failed.
    ErrImagePull,
    /// Waiting: the image is absent and the pull policy is `Never`.
    ErrImageNeverPull,
    /// Waiting: the image reference does not parse.
    InvalidImageName,
    /// Waiting: a referenced `ConfigMap`/`Secret` key is missing.
    CreateContainerConfigError,
    /// Waiting: the runtime could not create the container.
    CreateContainerError,
    /// Waiting: the runtime could not start the container.
    RunContainerError,
    /// Waiting: the `preStart` hook failed.
    PreStartHookError,
    /// Waiting: the `postStart` hook failed.
    PostStartHookError,
    /// Terminated with exit code 0.
    Completed,
    /// Terminated with a non-zero exit code.
    Error,
    /// Terminated by the kernel's out-of-memory killer.
    OOMKilled,
    /// Terminated: the runtime could not run the container.
    ContainerCannotRun,
    /// Terminated: `activeDeadlineSeconds` passed.
    DeadlineExceeded,
    /// Terminated: the container failed to start.
    StartError,
    /// Pod: evicted by the kubelet (resource pressure) or the API.
    Evicted,
    /// Pod: its node stopped responding.
    NodeLost,
    /// Pod: the node does not satisfy the pod's node affinity.
    NodeAffinity,
    /// Pod: the node shut down.
    Shutdown,
    /// Pod: the scheduler cannot place it.
    Unschedulable,
    /// Pod: scheduling gates hold it back.
    SchedulingGated,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// Whether a *waiting* container with this reason is failing rather than starting: the image cannot be
    /// pulled, the container cannot be created, or it crash-loops.
    pub fn is_failing_wait(&self) -> bool {
        matches!(
            self,
            Reason::CrashLoopBackOff
                | Reason::ImagePullBackOff
                | Reason::ErrImagePull
                | Reason::ErrImageNeverPull
                | Reason::InvalidImageName
                | Reason::CreateContainerConfigError
                | Reason::CreateContainerError
                | Reason::RunContainerError
                | Reason::PreStartHookError
                | Reason::PostStartHookError
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_reasons_parse_to_their_variant_and_others_survive_verbatim() {
        assert_eq!(Reason::parse("CrashLoopBackOff"), Reason::CrashLoopBackOff);
        assert_eq!(Reason::parse("OOMKilled").as_str(), "OOMKilled");
        assert_eq!(Reason::parse("Frobnicated"), Reason::Other("Frobnicated".into()));
        assert_eq!(Reason::parse("Frobnicated").to_string(), "Frobnicated");
    }

    #[test]
    fn a_known_reason_costs_one_byte_on_the_wire() {
        assert_eq!(postcard::to_allocvec(&Reason::CrashLoopBackOff).unwrap().len(), 1);
    }
}

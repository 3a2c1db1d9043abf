/// A value that failed validation at the boundary. Messages name the field and say
/// what would be accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(
        "a hypothesis is required for runs in project '{project}': say what you expect and why \
         (e.g. --hypothesis \"mixup raises val_acc by 1pt\"), or turn the requirement off for the project"
    )]
    HypothesisRequired { project: String },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::Invalid { field, reason: reason.into() }
    }
}

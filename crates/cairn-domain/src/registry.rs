//! The model registry: named models, their numbered versions (each linked to the run
//! that produced it), stages, aliases and tags; and the models runs log (MLflow 3's
//! "logged models"), whose files live among the producing run's artifacts.

use crate::{DomainError, Millis, RunId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest registered model name, alias or tag key accepted.
pub const MAX_NAME: usize = 256;

/// A registered model: a name that versions are filed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Alias → version number (`champion` → 3).
    #[serde(default)]
    pub aliases: BTreeMap<String, i64>,
}

/// What a new registered model starts with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRegisteredModel {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A change to a registered model; absent fields stay as they are. Tags and aliases
/// listed with `None` are removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredModelPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub aliases: BTreeMap<String, Option<i64>>,
}

/// Where a version is in its life: MLflow's four stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ModelStage {
    #[default]
    None,
    Staging,
    Production,
    Archived,
}

impl ModelStage {
    pub const ALL: [ModelStage; 4] =
        [ModelStage::None, ModelStage::Staging, ModelStage::Production, ModelStage::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelStage::None => "None",
            ModelStage::Staging => "Staging",
            ModelStage::Production => "Production",
            ModelStage::Archived => "Archived",
        }
    }

    /// Case-insensitive, as MLflow accepts it.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        ModelStage::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            DomainError::invalid(
                "stage",
                format!("'{s}' is not a stage; use one of None, Staging, Production, Archived"),
            )
        })
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: i64,
    /// Where the model's files are (e.g. `runs:/<run>/model`, `models:/m-…`, or a URL).
    pub source: String,
    /// The run that produced it, when known.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// The logged model it registers (MLflow 3), when there is one.
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub run_link: Option<String>,
    pub stage: ModelStage,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a new version is made from; the store numbers it, unless `version` asks for a
/// number (importers keep the source's numbers; it must be above every number used).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewModelVersion {
    #[serde(default)]
    pub version: Option<i64>,
    pub source: String,
    #[serde(default)]
    pub run_id: Option<RunId>,
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub run_link: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A change to a version. `archive_others` (with a stage of Staging or Production)
/// moves the model's other versions in that stage to Archived, as MLflow's
/// `archive_existing_versions` does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelVersionPatch {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub stage: Option<ModelStage>,
    #[serde(default)]
    pub archive_others: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, Option<String>>,
}

/// Checks a registered model name: what MLflow refuses, and what would break URLs.
pub fn validate_model_name(name: &str) -> Result<(), DomainError> {
    if name.trim().is_empty() {
        return Err(DomainError::invalid("name", "a registered model needs a name"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(DomainError::invalid("name", format!("'{name}' is longer than {MAX_NAME} characters")));
    }
    if let Some(c) = name.chars().find(|c| ['/', ':', '\0'].contains(c) || c.is_control()) {
        return Err(DomainError::invalid(
            "name",
            format!(
                "'{name}' contains {c:?}, which model names cannot hold (they appear in models:/NAME/VERSION URIs)"
            ),
        ));
    }
    Ok(())
}

/// Checks an alias: letters, digits, `_` and `-` only (it appears in `models:/NAME@ALIAS`
/// URIs), and neither `latest` nor `v<number>`, which those URIs read as versions.
pub fn validate_alias(alias: &str) -> Result<(), DomainError> {
    if alias.is_empty() {
        return Err(DomainError::invalid("alias", "an alias cannot be empty"));
    }
    if alias.chars().count() > MAX_NAME - 1 {
        return Err(DomainError::invalid("alias", format!("'{alias}' is longer than {} characters", MAX_NAME - 1)));
    }
    if let Some(c) = alias.chars().find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(DomainError::invalid(
            "alias",
            format!("'{alias}' contains {c:?}; aliases use letters, digits, '_' and '-' only"),
        ));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(DomainError::invalid(
            "alias",
            "'latest' is reserved: models:/NAME/latest means the newest version",
        ));
    }
    if alias.strip_prefix(['v', 'V']).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
        return Err(DomainError::invalid(
            "alias",
            format!("'{alias}' reads as a version number; choose a name such as 'champion'"),
        ));
    }
    Ok(())
}

/// A model a run logged (MLflow 3's logged model): its files are the producing run's
/// artifacts under [`LoggedModel::artifact_prefix`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedModel {
    /// `m-` followed by 32 hex digits, as MLflow writes them.
    pub id: String,
    pub project_id: i64,
    pub name: String,
    #[serde(default)]
    pub source_run: Option<RunId>,
    pub status: LoggedModelStatus,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl LoggedModel {
    /// Where the model's files sit among its run's artifacts.
    pub fn artifact_prefix(&self) -> String {
        format!("models/{}", self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoggedModelStatus {
    Pending,
    Ready,
    Failed,
}

impl LoggedModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedModelStatus::Pending => "pending",
            LoggedModelStatus::Ready => "ready",
            LoggedModelStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LoggedModelStatus::Pending, LoggedModelStatus::Ready, LoggedModelStatus::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_case_insensitively_and_name_the_choices() {
        assert_eq!(ModelStage::parse("production").unwrap(), ModelStage::Production);
        assert_eq!(ModelStage::parse("None").unwrap(), ModelStage::None);
        let e = ModelStage::parse("prod").unwrap_err().to_string();
        assert!(e.contains("Staging, Production"), "{e}");
    }

    #[test]
    fn names_and_aliases_refuse_what_uris_cannot_carry() {
        assert!(validate_model_name("defect-detector").is_ok());
        assert!(validate_model_name("a b.c_d").is_ok());
        assert!(validate_model_name("").is_err());
        assert!(validate_model_name("a/b").is_err());
        assert!(validate_alias("champion").is_ok());
        assert!(validate_alias("latest").is_err());
        assert!(validate_alias("v3").is_err());
        assert!(validate_alias("12").is_ok());
        assert!(validate_alias("my alias").is_err());
    }
}

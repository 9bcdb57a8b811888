//! Job names must be unique across all job files of a server.

use crate::spec::JobSpec;
use std::collections::HashMap;
use std::fmt;

/// Where a job is defined: a source name and its position among that file's jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLocation {
    /// The source name the file was parsed with, usually its path.
    pub source: String,
    /// 1-based position of the job in the file, as in diagnostic field paths (`job[2]`).
    pub index: usize,
}

impl fmt::Display for JobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} job[{}]", self.source, self.index)
    }
}

/// A job name defined more than once.
///
/// Displays as ``job name `backup` is defined more than once: jobs/a.toml job[1] and jobs/b.toml job[3]``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateJobName {
    /// The name.
    pub name: String,
    /// The first definition, in the order the files were given.
    pub first: JobLocation,
    /// A later definition; a name defined three times gives two errors, both with the same
    /// `first`.
    pub duplicate: JobLocation,
}

impl fmt::Display for DuplicateJobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job name `{}` is defined more than once: {} and {}",
            self.name, self.first, self.duplicate
        )
    }
}

impl std::error::Error for DuplicateJobName {}

/// Checks that no job name appears twice across `files`: pairs of a source name and the
/// jobs [`crate::file::parse_job_file`] returned for it, in the order the caller wants
/// "first" to mean (e.g. sorted paths).
///
/// Errors: one [`DuplicateJobName`] per later definition, in input order.
pub fn check_unique_names(files: &[(String, Vec<JobSpec>)]) -> Result<(), Vec<DuplicateJobName>> {
    let mut first_seen: HashMap<&str, JobLocation> = HashMap::new();
    let mut duplicates = Vec::new();
    for (source, jobs) in files {
        for (index, job) in jobs.iter().enumerate() {
            let here = JobLocation {
                source: source.clone(),
                index: index + 1,
            };
            match first_seen.get(job.name.as_str()) {
                Some(first) => duplicates.push(DuplicateJobName {
                    name: job.name.clone(),
                    first: first.clone(),
                    duplicate: here,
                }),
                None => {
                    first_seen.insert(&job.name, here);
                }
            }
        }
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(duplicates)
    }
}

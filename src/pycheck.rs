use std::collections::BTreeSet;
pub struct Declared<'a> { pub tables: &'a [String], pub parameters: &'a [String] }
pub struct PyCheck { pub diagnostics: Vec<crate::diagnostic::Diagnostic>, pub tables_used: BTreeSet<String>, pub parameters_used: BTreeSet<String> }
pub fn check_entry_point(_file: &str, _source: &str, _declared: &Declared) -> PyCheck { PyCheck { diagnostics: vec![], tables_used: BTreeSet::new(), parameters_used: BTreeSet::new() } }

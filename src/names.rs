//! Names for children and scopes, at no cost to the unnamed.
//!
//! Everything that shows a child or a scope (the task tree, slow-poll
//! reports, the reasons a child was dropped, an error group's members)
//! already shows where it was spawned or opened: a `&'static Location`. A
//! name rides on that place. Naming a child at a spawn site interns a copy
//! of the site's `Location` (once per name and site: names are
//! `&'static str`, so there are as many as the program text has) and
//! records the name against the copy's address; the child keeps that
//! location where it keeps any other, and whoever shows a place asks
//! [`name_of`] for its name. An unnamed child's place is the caller's own
//! `Location`, which has no name: nothing is stored, and nothing is looked
//! up until a place is shown, where one load says whether any name was ever
//! given.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// True once any name was given: until then `name_of` looks nothing up.
static ANY: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Table {
    /// (the name's address and length, the site's address) to the named
    /// copy of the site.
    sites: HashMap<(usize, usize, usize), &'static Location<'static>>,
    /// A named copy's address to its name.
    names: HashMap<usize, &'static str>,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(Mutex::default)
}

/// `at`, named `name`: a place equal to `at` (file, line, column) that
/// [`name_of`] knows by `name`. The same name at the same site gives the
/// same place.
pub(crate) fn named(
    name: &'static str,
    at: &'static Location<'static>,
) -> &'static Location<'static> {
    let key = (name.as_ptr() as usize, name.len(), at as *const _ as usize);
    let mut table = crate::util::lock(table());
    if let Some(site) = table.sites.get(&key) {
        return site;
    }
    // Leaked on purpose, once per name and site (both `'static`, so their
    // number is bounded by the program).
    let site: &'static Location<'static> = Box::leak(Box::new(*at));
    table.sites.insert(key, site);
    table.names.insert(site as *const _ as usize, name);
    ANY.store(true, Ordering::Release);
    site
}

/// The name given to the child spawned, or the scope opened, at `at`.
pub(crate) fn name_of(at: &Location<'_>) -> Option<&'static str> {
    if !ANY.load(Ordering::Acquire) {
        return None;
    }
    let table = crate::util::lock(table());
    table.names.get(&(at as *const _ as usize)).copied()
}

/// A child's or a scope's place with its name, for messages:
/// "`name` (at file:line:col)" or "file:line:col".
pub(crate) struct Named(pub(crate) &'static Location<'static>);

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match name_of(self.0) {
            Some(name) => write!(f, "`{name}` at {}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_name_rides_on_a_copy_of_its_site() {
        let at = Location::caller();
        assert_eq!(name_of(at), None);
        let site = named("worker", at);
        assert_eq!(
            (site.file(), site.line(), site.column()),
            (at.file(), at.line(), at.column())
        );
        assert_eq!(name_of(site), Some("worker"));
        assert_eq!(name_of(at), None, "the caller's own place stays unnamed");
        assert!(std::ptr::eq(named("worker", at), site), "interned");
        let other = named("other", at);
        assert!(!std::ptr::eq(other, site));
        assert_eq!(name_of(other), Some("other"));
        assert_eq!(Named(site).to_string(), format!("`worker` at {at}"));
        assert_eq!(Named(at).to_string(), at.to_string());
    }
}

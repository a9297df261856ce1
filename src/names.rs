//! Names for children and scopes, at no cost to the unnamed.
//!
//! Everything that shows a child or a scope (the task tree, slow-poll
//! reports, the reasons a child was dropped, an error group's members)
//! already shows where it was spawned or opened: a `&'static Location`. A
//! name rides on that place. Naming a child at a spawn site interns a copy
//! of the site's `Location` (once per name and site, for the life of the
//! process: names are `&'static str`, so there are as many as the
//! program's text has, unless it leaks names made at run time, about 100
//! bytes each; each thread keeps a copy of the answers it used, so a named
//! spawn in a loop takes no lock) and
//! records the name against the copy's address; the child keeps that
//! location where it keeps any other, and whoever shows a place asks
//! [`name_of`] for its name. An unnamed child's place is the caller's own
//! `Location`, which has no name: nothing is stored, and nothing is looked
//! up until a place is shown, where one load says whether any name was ever
//! given.

use std::cell::RefCell;
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
    type Key = (usize, usize, usize);
    thread_local! {
        /// This thread's copy of the table's answers: a named spawn in a
        /// loop takes no lock after its first.
        static KNOWN: RefCell<HashMap<Key, &'static Location<'static>>> =
            RefCell::new(HashMap::new());
    }
    let key: Key = (name.as_ptr() as usize, name.len(), at as *const _ as usize);
    if let Some(site) = KNOWN.with(|known| known.borrow().get(&key).copied()) {
        return site;
    }
    let site = intern(key, name, at);
    KNOWN.with(|known| known.borrow_mut().insert(key, site));
    site
}

/// `named` past the thread's own copy: the process-wide table.
#[cold]
fn intern(
    key: (usize, usize, usize),
    name: &'static str,
    at: &'static Location<'static>,
) -> &'static Location<'static> {
    let mut table = crate::util::lock(table());
    if let Some(site) = table.sites.get(&key) {
        return site;
    }
    // Leaked on purpose, once per name and site, for the life of the
    // process (both `'static`: as many as the program's text has, unless it
    // leaks names made at run time, each of which then stays here).
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

/// A name as messages show it: in backticks, escaped (a newline or a
/// backtick in a name does not break a line of the task tree).
pub(crate) struct Quoted(pub(crate) &'static str);

impl std::fmt::Display for Quoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`", self.0.escape_debug())
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
        assert_eq!(Quoted("a`b\nc").to_string(), "`a`b\\nc`");
    }
}

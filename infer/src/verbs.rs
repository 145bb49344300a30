//! The verb table: the ONE place that maps the leading verb of a
//! relationship label (`"Reads account data from"`, `"Submits orders to"`)
//! to the HTTP method of the route and client call that implement it, and
//! the rest of the label to the route's path.
//!
//! Matching is by whole lowercase words at the start of the label, first row
//! wins, longest phrase first within a row (`"looks up"` before `"looks"`
//! could ever match anything). A label whose first words match no row is a
//! `POST` whose path is the whole label, as before the table existed.

use serde::Serialize;

/// An HTTP method a generated route can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Reads without changing anything; no request body.
    Get,
    /// Creates or submits something; JSON body.
    Post,
    /// Replaces/updates a resource; JSON body.
    Put,
    /// Changes part of a resource; JSON body.
    Patch,
    /// Removes or cancels; no request body.
    Delete,
}

impl HttpMethod {
    /// Upper-case name as written on the wire (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether generated calls send a JSON body (`GET` and `DELETE` do not,
    /// so proxies and caches treat them the way HTTP intends).
    pub fn has_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

/// One row of the verb table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VerbRow {
    /// The method the verbs mean.
    pub method: HttpMethod,
    /// Lowercase verb phrases (one or more words) that select this row.
    pub phrases: &'static [&'static str],
}

/// The table, in priority order.
pub static TABLE: &[VerbRow] = &[
    VerbRow {
        method: HttpMethod::Get,
        phrases: &[
            "looks up",
            "look up",
            "reads",
            "read",
            "gets",
            "get",
            "fetches",
            "fetch",
            "lists",
            "list",
            "queries",
            "query",
            "retrieves",
            "retrieve",
            "loads",
            "load",
            "searches",
            "search",
            "finds",
            "find",
            "views",
            "view",
        ],
    },
    VerbRow {
        method: HttpMethod::Post,
        phrases: &[
            "creates",
            "create",
            "submits",
            "submit",
            "sends",
            "send",
            "places",
            "place",
            "posts",
            "post",
            "registers",
            "register",
            "adds",
            "add",
            "uploads",
            "upload",
        ],
    },
    VerbRow {
        method: HttpMethod::Put,
        phrases: &["updates", "update", "replaces", "replace"],
    },
    VerbRow {
        method: HttpMethod::Patch,
        phrases: &["changes", "change", "modifies", "modify"],
    },
    VerbRow {
        method: HttpMethod::Delete,
        phrases: &[
            "deletes", "delete", "removes", "remove", "cancels", "cancel",
        ],
    },
];

/// Words dropped from both ends of what follows the verb ("account data
/// *from*" names the account data).
const STOP: &[&str] = &[
    "a", "an", "the", "from", "to", "into", "in", "on", "at", "of", "for", "by", "via", "using",
    "with", "and", "or", "its", "their", "all",
];

/// Words that count things rather than name them ("of *every* region"),
/// left out of parameter names.
const QUANTIFIERS: &[&str] = &["every", "each", "any", "some", "many", "one"];

/// What a label means for HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verb {
    /// The method (`POST` when no row matched).
    pub method: HttpMethod,
    /// The words naming the resource, space-separated, lowercase; empty when
    /// the label is only a verb (or nothing): callers then name the path
    /// after the whole label.
    pub resource: String,
    /// True when a row of [`TABLE`] matched.
    pub matched: bool,
}

/// Lowercase words; PlantUML's `\n` line break separates words like a space.
fn words(text: &str) -> Vec<String> {
    text.replace("\\n", " ")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Classifies a relationship label.
pub fn classify(label: &str) -> Verb {
    let w = words(label);
    let mut hit: Option<(HttpMethod, usize)> = None;
    'rows: for row in TABLE {
        for phrase in row.phrases {
            let p: Vec<&str> = phrase.split(' ').collect();
            if w.len() >= p.len() && w.iter().zip(&p).all(|(a, b)| a == b) {
                hit = Some((row.method, p.len()));
                break 'rows;
            }
        }
    }
    let Some((method, skip)) = hit else {
        return Verb {
            method: HttpMethod::Post,
            resource: String::new(),
            matched: false,
        };
    };
    let mut rest: &[String] = &w[skip..];
    while let Some((first, tail)) = rest.split_first()
        && STOP.contains(&first.as_str())
    {
        rest = tail;
    }
    while let Some((last, head)) = rest.split_last()
        && STOP.contains(&last.as_str())
    {
        rest = head;
    }
    Verb {
        method,
        resource: rest.join(" "),
        matched: true,
    }
}

/// The path a label names with its parameters, when it names one:
/// `"Reads account details by id"` -> `/account-details/{id}`,
/// `"Lists transactions of an account"` -> `/accounts/{account_id}/transactions`
/// (also `for`: `"Gets orders for a customer"`). `None` for labels without
/// `by`, `of` or `for` between two named things; those keep the path of
/// [`classify`].
pub fn parameterized_path(label: &str) -> Option<String> {
    let v = classify(label);
    if !v.matched || v.resource.is_empty() {
        return None;
    }
    let w: Vec<&str> = v.resource.split(' ').collect();
    let named = |ws: &[&str]| -> Vec<String> {
        ws.iter()
            .filter(|t| !STOP.contains(t) && !QUANTIFIERS.contains(t))
            .map(|t| t.to_string())
            .collect()
    };
    let ident = |ws: &[String]| {
        let id = ws.join("_");
        id.starts_with(|c: char| c.is_ascii_lowercase())
            .then_some(id)
    };
    if let Some(i) = w.iter().position(|x| *x == "by") {
        let (what, key) = (named(&w[..i]), named(&w[i + 1..]));
        if !what.is_empty() && !key.is_empty() {
            let param = ident(&key)?;
            return Some(format!("/{}/{{{param}}}", what.join("-")));
        }
    }
    if let Some(i) = w.iter().position(|x| *x == "of" || *x == "for") {
        let (what, owner) = (named(&w[..i]), named(&w[i + 1..]));
        if !what.is_empty() && !owner.is_empty() {
            let param = format!("{}_id", ident(&owner)?);
            let mut plural = owner.join("-");
            if !plural.ends_with('s') {
                plural.push('s');
            }
            return Some(format!("/{plural}/{{{param}}}/{}", what.join("-")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(label: &str) -> (&'static str, String) {
        let v = classify(label);
        (v.method.as_str(), v.resource)
    }

    #[test]
    fn verbs_map_to_methods() {
        assert_eq!(m("Reads from and writes to"), ("GET", "writes".into()));
        assert_eq!(
            m("Gets account information from"),
            ("GET", "account information".into())
        );
        assert_eq!(m("fetches rates"), ("GET", "rates".into()));
        assert_eq!(m("Lists the orders of"), ("GET", "orders".into()));
        assert_eq!(m("queries"), ("GET", String::new()));
        assert_eq!(m("Looks up customers in"), ("GET", "customers".into()));
        assert_eq!(m("Creates accounts"), ("POST", "accounts".into()));
        assert_eq!(m("Submits an order to"), ("POST", "order".into()));
        assert_eq!(m("sends e-mail using"), ("POST", "e mail".into()));
        assert_eq!(m("Places orders"), ("POST", "orders".into()));
        assert_eq!(m("posts reviews"), ("POST", "reviews".into()));
        assert_eq!(m("Updates profile"), ("PUT", "profile".into()));
        assert_eq!(m("Changes the password of"), ("PATCH", "password".into()));
        assert_eq!(m("modifies settings"), ("PATCH", "settings".into()));
        assert_eq!(m("Deletes users"), ("DELETE", "users".into()));
        assert_eq!(m("removes items from"), ("DELETE", "items".into()));
        assert_eq!(m("Cancels the booking"), ("DELETE", "booking".into()));
    }

    #[test]
    fn a_line_break_separates_words() {
        assert_eq!(m("Reads\\norders from"), ("GET", "orders".into()));
        assert_eq!(
            m("Lists orders,\\nrefunds"),
            ("GET", "orders refunds".into())
        );
    }

    #[test]
    fn unknown_verbs_are_post_without_resource() {
        for label in [
            "Makes API calls to",
            "Uses",
            "",
            "   ",
            "getaway",
            "readership data",
        ] {
            let v = classify(label);
            assert_eq!(v.method, HttpMethod::Post, "{label:?}");
            assert!(!v.matched, "{label:?}");
            assert_eq!(v.resource, "", "{label:?}");
        }
    }

    #[test]
    fn labels_name_path_parameters() {
        let cases = [
            ("Reads account details by id", Some("/account-details/{id}")),
            (
                "Lists transactions of an account",
                Some("/accounts/{account_id}/transactions"),
            ),
            (
                "Gets orders for a customer",
                Some("/customers/{customer_id}/orders"),
            ),
            (
                "Finds users by e-mail address",
                Some("/users/{e_mail_address}"),
            ),
            ("Gets account information from", None),
            ("Lists the orders of", None),
            ("Reads by", None),
            ("Uses", None),
            ("Reads items by 2fa", None),
        ];
        for (label, path) in cases {
            assert_eq!(parameterized_path(label).as_deref(), path, "{label:?}");
        }
    }

    #[test]
    fn bodies_only_for_writes() {
        assert!(!HttpMethod::Get.has_body());
        assert!(!HttpMethod::Delete.has_body());
        assert!(HttpMethod::Post.has_body());
        assert!(HttpMethod::Put.has_body());
        assert!(HttpMethod::Patch.has_body());
    }
}

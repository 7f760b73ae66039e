//! A deterministic, realistic organization per seed. ChaCha8 is a fixed,
//! portable algorithm and every draw uses explicit integer widths, so a seed
//! gives the same directory on every platform.

use super::model::{
    AdUser, Directory, Mailbox, MailboxDatabase, MailboxKind, MailboxSettings, Server, ADMIN_GROUP,
    DOMAIN, ORG_NAME,
};
use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct SeedSpec {
    pub mailboxes: u64,
    pub databases: u64,
    pub seed: u64,
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Jean",
    "Zoë",
    "François",
    "Anaïs",
    "Björn",
    "Søren",
    "José",
    "María",
    "Łukasz",
    "Ólafur",
    "Chloé",
    "Renée",
    "Jürgen",
    "Ngozi",
    "Aiko",
    "Wei",
    "Dmitri",
    "Fatima",
    "Hélène",
    "Ines",
    "Mathéo",
    "Noémie",
    "Priya",
    "Yusuf",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "さくら",
    "Αλέξανδρος",
    "Ольга",
    "Åsa",
    "Þóra",
    "Ümit",
];
const LAST: &[&str] = &[
    "Smith",
    "Martin",
    "Dubois",
    "Müller",
    "García",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Andersen",
    "Lefèvre",
    "Rossi",
    "Tanaka",
    "Silva",
    "Johansson",
    "Novák",
    "Brown",
    "Bernard",
    "Durand",
    "Petit",
    "Wójcik",
    "Ibrahim",
    "Chen",
    "D'Angelo",
    "Van der Berg",
    "Núñez",
    "Øvergaard",
    "山田",
    "Παπαδόπουλος",
    "Иванов",
];
const NICKNAMES: &[&str] = &["Bob", "Jim", "Kiki", "Lou"];
const OUS: &[&str] = &[
    "contoso.com/Users",
    "contoso.com/Staff/Sales",
    "contoso.com/Staff/Engineering",
    "contoso.com/Staff/Finance",
    "contoso.com/Paris",
    "contoso.com/Tokyo",
];
const RESOURCE_OU: &str = "contoso.com/Resources";
const ROOMS: &[&str] = &[
    "Conference Room",
    "Salle de réunion",
    "Board Room",
    "会議室",
];
const EQUIPMENT: &[&str] = &["Projector", "Van", "Camera, 4K", "Laptop Pool"];
const SHARED: &[&str] = &[
    "Support",
    "Sales Desk",
    "Accounts \"Payable\"",
    "Info",
    "RH – Recrutement",
];
const SECONDARY_DOMAINS: &[&str] = &["fabrikam.com", "contoso.onmicrosoft.com", "contoso.fr"];
const GB: u64 = 1 << 30;
const MB: u64 = 1 << 20;

/// Lower-case ASCII for SAM names and addresses: accents folded, other
/// characters dropped.
fn ascii_fold(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let mapped = match c {
            'à' | 'á' | 'â' | 'ä' | 'å' | 'ã' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' | 'ń' => "n",
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'ł' => "l",
            'ß' => "ss",
            'æ' => "ae",
            'þ' => "th",
            'ð' => "d",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => "",
        };
        out.push_str(mapped);
    }
    out
}

pub fn guid(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn hex32(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn legacy_exchange_dn(hex: &str, alias: &str) -> String {
    let short: String = alias.chars().take(8).collect();
    format!("/o={ORG_NAME}/ou={ADMIN_GROUP}/cn=Recipients/cn={hex}-{short}")
}

fn time_between(rng: &mut ChaCha8Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to.timestamp() - from.timestamp()).max(1) as u64;
    let offset = rng.random_range(0..span) as i64;
    DateTime::from_timestamp(from.timestamp() + offset, 0).unwrap_or(from)
}

fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len() as u32) as usize]
}

/// Values already taken, and per base the next suffix to try, so the
/// 500th "jsmith" costs one probe, not 500.
#[derive(Default)]
struct Taken {
    values: HashSet<String>,
    next_suffix: HashMap<String, u32>,
}

/// Makes `base` unique within `taken` with a numeric suffix.
fn unique(taken: &mut Taken, base: &str, sep: &str) -> String {
    let key = base.to_lowercase();
    if taken.values.insert(key.clone()) {
        return base.to_string();
    }
    let n = taken.next_suffix.entry(key).or_insert(1);
    loop {
        *n += 1;
        let candidate = format!("{base}{sep}{n}");
        if taken.values.insert(candidate.to_lowercase()) {
            return candidate;
        }
    }
}

#[derive(Default)]
struct Names {
    sam: Taken,
    smtp: Taken,
    /// `ou/name`: AD requires a unique CN within a container only.
    cn: Taken,
}

pub fn seed(spec: SeedSpec) -> Directory {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut dir = Directory {
        utc_offset_minutes: 60,
        ..Directory::default()
    };
    let server_count = spec.databases.div_ceil(4).clamp(1, 4);
    for i in 1..=server_count {
        dir.servers.push(Server {
            name: format!("EXCH{i:02}"),
        });
    }
    let epoch_start = date(2016, 1, 1);
    let epoch_end = date(2026, 6, 1);
    for i in 1..=spec.databases.max(1) {
        let id = dir.allocate_id();
        let name = format!("DB{i:02}");
        let server = dir.servers[((i - 1) % server_count) as usize].name.clone();
        let created = time_between(&mut rng, epoch_start, date(2017, 1, 1));
        let changed = time_between(&mut rng, created, epoch_end);
        let folder = format!("C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Mailbox\\{name}");
        dir.databases.insert(
            id,
            Arc::new(MailboxDatabase {
                id,
                guid: guid(&mut rng),
                edb_file_path: format!("{folder}\\{name}.edb"),
                log_folder_path: folder,
                name,
                server,
                mounted: true,
                when_created: created,
                when_changed: changed,
            }),
        );
    }
    let db_ids: Vec<u64> = dir.databases.keys().copied().collect();
    let mut names = Names::default();
    let mut identities: Vec<String> = Vec::new();
    let without_mailbox = (spec.mailboxes / 10).max(5);
    for n in 0..spec.mailboxes + without_mailbox {
        let with_mailbox = n < spec.mailboxes;
        let user = make_user(
            &mut rng,
            &mut dir,
            &mut names,
            &db_ids,
            &identities,
            n,
            with_mailbox,
            (epoch_start, epoch_end),
        );
        if user.mailbox.is_some() && identities.len() < 64 {
            identities.push(user.identity());
        }
        dir.users.insert(user.id, Arc::new(user));
    }
    dir
}

#[allow(clippy::too_many_arguments)]
fn make_user(
    rng: &mut ChaCha8Rng,
    dir: &mut Directory,
    names: &mut Names,
    db_ids: &[u64],
    forward_targets: &[String],
    n: u64,
    with_mailbox: bool,
    (epoch_start, epoch_end): (DateTime<Utc>, DateTime<Utc>),
) -> AdUser {
    let id = dir.allocate_id();
    let kind = if !with_mailbox || n == 0 {
        MailboxKind::User
    } else {
        match rng.random_range(0..100u32) {
            0..80 => MailboxKind::User,
            80..88 => MailboxKind::Shared,
            88..93 => MailboxKind::Room,
            93..97 => MailboxKind::Equipment,
            _ => MailboxKind::Linked,
        }
    };
    let (first, last) = (pick(rng, FIRST), pick(rng, LAST));
    let (display, sam_base, smtp_base, ou) = if n == 0 {
        (
            "Administrator".to_string(),
            "Administrator".to_string(),
            "administrator".to_string(),
            OUS[0],
        )
    } else {
        match kind {
            MailboxKind::Room | MailboxKind::Equipment | MailboxKind::Shared => {
                let label = match kind {
                    MailboxKind::Room => pick(rng, ROOMS),
                    MailboxKind::Equipment => pick(rng, EQUIPMENT),
                    _ => pick(rng, SHARED),
                };
                let folded = ascii_fold(label);
                let base = if folded.is_empty() {
                    format!("res{id}")
                } else {
                    folded
                };
                let ou = if kind == MailboxKind::Shared {
                    pick(rng, OUS)
                } else {
                    RESOURCE_OU
                };
                (label.to_string(), base.clone(), base, ou)
            }
            _ => {
                let style = rng.random_range(0..10u32);
                let display = match style {
                    0 | 1 => format!("{last}, {first}"),
                    2 => format!("{first} \"{}\" {last}", pick(rng, NICKNAMES)),
                    _ => format!("{first} {last}"),
                };
                let (f, l) = (ascii_fold(first), ascii_fold(last));
                let f = if f.is_empty() { "u".to_string() } else { f };
                let l = if l.is_empty() { format!("user{id}") } else { l };
                let sam: String = format!("{}{}", &f[..1], l).chars().take(16).collect();
                (display, sam, format!("{f}.{l}"), pick(rng, OUS))
            }
        }
    };
    let name = unique(&mut names.cn, &format!("{ou}/{display}"), " ")
        .trim_start_matches(&format!("{ou}/"))
        .to_string();
    let name = if name.is_empty() {
        display.clone()
    } else {
        name
    };
    let sam = unique(&mut names.sam, &sam_base, "");
    let created = time_between(rng, epoch_start, epoch_end);
    let changed = time_between(rng, created, epoch_end);
    let mailbox = with_mailbox.then(|| {
        let smtp = unique(&mut names.smtp, &smtp_base, "");
        // The first mailbox is a plain Administrator, like the real vector.
        let targets = if n == 0 { &[][..] } else { forward_targets };
        let mut mailbox = make_mailbox(rng, kind, &sam, &smtp, db_ids, targets, created, changed);
        // A mailbox with a SIP address is UM-enabled too: Unified Messaging
        // stamps an EUM address (extension; dial plan). The extension is
        // the user's id, so it is unique; no draw is added, so the rest of
        // the seed is unchanged.
        if mailbox
            .email_addresses
            .iter()
            .any(|a| a.starts_with("SIP:"))
        {
            mailbox.email_addresses.push(format!(
                "EUM:{};phone-context=Paris Dial Plan.{DOMAIN}",
                10_000 + id
            ));
        }
        mailbox
    });
    let account_disabled = mailbox
        .as_ref()
        .is_some_and(|m| m.kind != MailboxKind::User);
    AdUser {
        id,
        guid: guid(rng),
        name,
        display_name: display,
        user_principal_name: format!("{sam}@{DOMAIN}"),
        sam_account_name: sam,
        organizational_unit: ou.to_string(),
        account_disabled,
        when_created: created,
        when_changed: changed,
        mailbox,
    }
}

#[allow(clippy::too_many_arguments)]
fn make_mailbox(
    rng: &mut ChaCha8Rng,
    kind: MailboxKind,
    alias: &str,
    smtp: &str,
    db_ids: &[u64],
    forward_targets: &[String],
    created: DateTime<Utc>,
    changed: DateTime<Utc>,
) -> Mailbox {
    let hex = hex32(rng);
    let legacy = legacy_exchange_dn(&hex, alias);
    let mut candidates = vec![
        format!("smtp:{alias}@{DOMAIN}"),
        format!("X500:/o={ORG_NAME}/ou={ADMIN_GROUP}/cn=Recipients/cn={}-{alias}", hex32(rng)),
        format!("smtp:{smtp}@{}", pick(rng, SECONDARY_DOMAINS)),
        format!("SIP:{smtp}@{DOMAIN}"),
        format!("X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={}-{alias}", hex32(rng)),
    ];
    // The first candidate only makes sense when it differs from the primary.
    if alias.eq_ignore_ascii_case(smtp) {
        candidates.remove(0);
    }
    let extra = rng.random_range(0..6u32) as usize;
    let mut email_addresses = vec![format!("SMTP:{smtp}@{DOMAIN}")];
    email_addresses.extend(candidates.into_iter().take(extra));
    let use_defaults = rng.random_range(0..100u32) < 60;
    let (send, send_receive, warning) = if use_defaults {
        (None, None, None)
    } else {
        let send =
            [GB, 2 * GB, 5 * GB, 10 * GB, 49 * GB + GB / 2][rng.random_range(0..5u32) as usize];
        (Some(send), Some(send + send / 10), Some(send / 10 * 9))
    };
    let sized_messages = rng.random_range(0..100u32) < 20;
    let forwarding = rng.random_range(0..100u32);
    let (forwarding_address, forwarding_smtp_address) = match forwarding {
        0..5 if !forward_targets.is_empty() => (
            Some(
                forward_targets[rng.random_range(0..forward_targets.len() as u32) as usize].clone(),
            ),
            None,
        ),
        5..8 if !forward_targets.is_empty() => (None, Some(format!("smtp:{smtp}@partner.example"))),
        _ => (None, None),
    };
    Mailbox {
        exchange_guid: guid(rng),
        database: if db_ids.is_empty() {
            0
        } else {
            db_ids[rng.random_range(0..db_ids.len() as u32) as usize]
        },
        alias: alias.to_string(),
        kind,
        email_addresses,
        email_address_policy_enabled: rng.random_range(0..100u32) < 85,
        deliver_to_mailbox_and_forward: (forwarding_address.is_some()
            || forwarding_smtp_address.is_some())
            && rng.random_bool(0.5),
        forwarding_address,
        forwarding_smtp_address,
        use_database_quota_defaults: use_defaults,
        prohibit_send_quota: send,
        prohibit_send_receive_quota: send_receive,
        issue_warning_quota: warning,
        max_send_size: sized_messages.then_some(35 * MB),
        max_receive_size: sized_messages.then_some(36 * MB),
        legacy_exchange_dn: legacy,
        linked_master_account: if kind == MailboxKind::Linked {
            format!("FABRIKAM\\{alias}")
        } else {
            String::new()
        },
        when_mailbox_created: time_between(rng, created, changed),
        settings: MailboxSettings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_ascii_letters() {
        assert_eq!(ascii_fold("Zoë O'Brien"), "zoeobrien");
        assert_eq!(ascii_fold("山田"), "");
        assert_eq!(ascii_fold("Łukasz"), "lukasz");
    }
}

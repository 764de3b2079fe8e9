//! Room membership lines as the log shows them: a run of consecutive joins (or leaves)
//! becomes one line, "Ada, Bob and 3 others joined #design.", so a busy room's log stays
//! readable.

use shared::{ServerBody, ServerMessage};

/// The log's lines with each run of consecutive `room_join` (or `room_leave`) lines
/// folded into one. The folded line keeps the id (and time) of the run's last line, so
/// it stays a unique, stable key as the run grows.
pub fn collapse_membership(lines: &[ServerMessage]) -> Vec<ServerMessage> {
    let mut out: Vec<ServerMessage> = Vec::with_capacity(lines.len());
    let mut run: Vec<&ServerMessage> = Vec::new();
    for line in lines {
        if let Some(first) = run.first() {
            if !same_kind(first, line) {
                out.push(fold(&run));
                run.clear();
            }
        }
        if is_membership(line) {
            run.push(line);
        } else {
            out.push(line.clone());
        }
    }
    if !run.is_empty() {
        out.push(fold(&run));
    }
    out
}

fn is_membership(line: &ServerMessage) -> bool {
    matches!(
        line.body,
        ServerBody::RoomJoin { .. } | ServerBody::RoomLeave { .. }
    )
}

fn same_kind(a: &ServerMessage, b: &ServerMessage) -> bool {
    is_membership(b) && a.body.kind() == b.body.kind() && a.room == b.room
}

/// One line for a run; a run of one is left as it is.
fn fold(run: &[&ServerMessage]) -> ServerMessage {
    let last = run[run.len() - 1];
    if run.len() == 1 {
        return last.clone();
    }
    let mut names: Vec<&str> = Vec::new();
    for line in run {
        if !names.contains(&line.user.name.as_str()) {
            names.push(&line.user.name);
        }
    }
    let text = format!("{}{}", list_names(&names), action_of(last));
    let body = match &last.body {
        ServerBody::RoomLeave { .. } => ServerBody::RoomLeave { text, by: None },
        _ => ServerBody::RoomJoin { text, by: None },
    };
    ServerMessage {
        body,
        ..last.clone()
    }
}

/// What follows the name in a stored line: `" joined #design."`.
fn action_of(line: &ServerMessage) -> String {
    let text = match &line.body {
        ServerBody::RoomJoin { text, .. } | ServerBody::RoomLeave { text, .. } => text.as_str(),
        _ => "",
    };
    match text.strip_prefix(line.user.name.as_str()) {
        Some(rest) if !line.user.name.is_empty() => rest.to_owned(),
        _ => match line.body {
            ServerBody::RoomLeave { .. } => " left.".into(),
            _ => " joined.".into(),
        },
    }
}

/// "Ada", "Ada and Bob", "Ada, Bob and Cy", "Ada, Bob and 3 others".
pub fn list_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [one, two] => format!("{one} and {two}"),
        [one, two, three] => format!("{one}, {two} and {three}"),
        [one, two, rest @ ..] => format!("{one}, {two} and {} others", rest.len()),
    }
}

//! Pages of stored history, for `GET /api/history` and `GET /api/rooms/{id}/history`:
//! the query rules, and the one way stored envelopes become a JSON array.

use serde::Deserialize;
use serde_json::value::RawValue;
use warp::http::header;
use warp::reply::Response;
use warp::Reply;

use crate::error::ApiError;
use crate::store::messages::Stored;

/// Query of the history endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub before: Option<u64>,
    pub limit: Option<usize>,
}

/// Default and largest page of the history endpoints.
pub const HISTORY_PAGE: (usize, usize) = (50, 100);

/// Parses a history query: ids are unsigned integers, `limit` is 1..=100.
pub fn parse_history_query(raw: &str) -> Result<(u64, usize), ApiError> {
    let query: HistoryQuery = serde_urlencoded::from_str(raw).map_err(|err| {
        ApiError::BadRequest(format!(
            "bad query: {err}; expected before=<message id>&limit=<1..=100>"
        ))
    })?;
    let limit = query.limit.unwrap_or(HISTORY_PAGE.0);
    if !(1..=HISTORY_PAGE.1).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {}",
            HISTORY_PAGE.1
        )));
    }
    Ok((query.before.unwrap_or(u64::MAX), limit))
}

/// Stored envelopes as one JSON array. Each element is sent exactly as it was stored and
/// broadcast, never decoded into a value and encoded again.
pub fn history_json(rows: &[Stored]) -> Result<String, ApiError> {
    let raw = rows
        .iter()
        .map(|row| serde_json::from_str::<&RawValue>(&row.json))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ApiError::Internal(format!("a stored envelope is not JSON: {err}")))?;
    serde_json::to_string(&raw).map_err(|err| ApiError::Internal(err.to_string()))
}

/// The `200` answer carrying [`history_json`].
pub fn history_reply(rows: &[Stored]) -> Result<Response, ApiError> {
    let body = history_json(rows)?;
    Ok(warp::reply::with_header(body, header::CONTENT_TYPE, "application/json").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_array_keeps_each_stored_envelope_byte_for_byte() {
        let rows = [
            Stored {
                id: 1,
                json: r#"{"id":1,"type":"chat","data":"caf\u00e9 \"q\""}"#.into(),
            },
            Stored {
                id: 2,
                json: r#"{"id":2,"type":"join"}"#.into(),
            },
        ];
        assert_eq!(
            history_json(&rows).unwrap(),
            format!("[{},{}]", rows[0].json, rows[1].json)
        );
        assert_eq!(history_json(&[]).unwrap(), "[]");
    }

    #[test]
    fn limit_outside_one_to_a_hundred_is_refused() {
        assert!(parse_history_query("limit=0").is_err());
        assert!(parse_history_query("limit=101").is_err());
        assert_eq!(parse_history_query("").unwrap(), (u64::MAX, 50));
        assert_eq!(parse_history_query("before=9&limit=3").unwrap(), (9, 3));
    }
}

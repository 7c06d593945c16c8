//! The HTTP client the receivers share: ureq (blocking, on the delivery
//! thread), rustls with ring, and timeouts so a stuck receiver is retried.

use std::time::Duration;

use super::Failure;

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body`; a failure says what the receiver answered, or why it could not be reached.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
) -> Result<(), Failure> {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request
        .send_json(body)
        .map_err(|e| Failure::Transient(format!("{url}: {e}")))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let reason = format!(
        "{url} answered {status}: {}",
        crate::escape::terminal(&text.trim().chars().take(200).collect::<String>())
    );
    // Only an answer about the batch's content is a refusal of findings
    // (split, then dropped one by one); 401, 403, 404 and the like are about
    // the receiver, and are retried like an outage.
    let retry = !matches!(status.as_u16(), 400 | 413 | 422);
    Err(if retry {
        Failure::Transient(reason)
    } else {
        Failure::Refused(reason)
    })
}

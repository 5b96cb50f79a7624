//! The optional CRM lookup (`[crm]`): one HTTP GET per verified caller as the
//! call starts, bounded by `timeout_ms`. Its answer can only mark a VIP; a
//! CRM that is slow, down or talks nonsense costs nothing but the mark.

use std::time::Duration;

use crate::config::CrmSettings;

/// Longest answer read: a caller's record, not a dump.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("GET {url}: {source}")]
    Http { url: String, source: ureq::Error },
    #[error("GET {url}: the answer is not a JSON object: {source}")]
    Json {
        url: String,
        source: serde_json::Error,
    },
}

#[derive(Clone)]
pub struct Crm {
    template: String,
    vip_field: String,
    agent: ureq::Agent,
}

impl Crm {
    /// `None` when no CRM is configured.
    pub fn new(settings: &CrmSettings) -> Option<Crm> {
        if settings.url.is_empty() {
            return None;
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(settings.timeout_ms)))
            .build()
            .new_agent();
        Some(Crm {
            template: settings.url.clone(),
            vip_field: settings.vip_field.clone(),
            agent,
        })
    }

    /// The lookup's URL: the caller's number, percent-encoded (RFC 3986
    /// section 2.1) so that `+` and anything else stay one path segment.
    pub fn url_for(&self, caller: &str) -> String {
        let encoded: String = caller
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (byte as char).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect();
        self.template.replace("{caller}", &encoded)
    }

    /// Whether the CRM marks `caller` a VIP; a 404 is a caller it does not
    /// know. Blocking: run it off the async threads.
    pub fn is_vip(&self, caller: &str) -> Result<bool, CrmError> {
        let url = self.url_for(caller);
        let http = |source| CrmError::Http {
            url: url.clone(),
            source,
        };
        let mut answer = match self.agent.get(&url).call() {
            Ok(answer) => answer,
            Err(ureq::Error::StatusCode(404)) => return Ok(false),
            Err(error) => return Err(http(error)),
        };
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(http)?;
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|source| CrmError::Json {
                url: url.clone(),
                source,
            })?;
        Ok(record.get(&self.vip_field) == Some(&serde_json::Value::Bool(true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A CRM on loopback that answers each request with `status` and `body`
    /// (or never, when `delay` is long), and reports the request lines.
    fn crm_answering(
        status: &'static str,
        body: &'static str,
        delay: Duration,
    ) -> (Crm, std::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen_tx, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(1) {
                let mut stream = stream.unwrap();
                let mut request = [0u8; 2048];
                let n = stream.read(&mut request).unwrap_or(0);
                let text = String::from_utf8_lossy(&request[..n]).into_owned();
                let _ = seen_tx.send(text.lines().next().unwrap_or_default().to_string());
                std::thread::sleep(delay);
                let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        let settings = CrmSettings {
            url: format!("http://127.0.0.1:{port}/callers/{{caller}}"),
            timeout_ms: 300,
            vip_field: "vip".into(),
        };
        (Crm::new(&settings).unwrap(), seen)
    }

    #[test]
    fn a_caller_the_crm_marks_vip_is_one_and_the_number_is_one_path_segment() {
        let (crm, seen) = crm_answering("200 OK", r#"{"name":"Ada","vip":true}"#, Duration::ZERO);
        assert!(crm.is_vip("+1 555/0100").unwrap());
        assert_eq!(
            seen.recv().unwrap(),
            "GET /callers/%2B1%20555%2F0100 HTTP/1.1"
        );
    }

    #[test]
    fn an_unknown_caller_or_a_false_mark_is_not_a_vip() {
        let (crm, _) = crm_answering("404 Not Found", "", Duration::ZERO);
        assert!(!crm.is_vip("+15550100123").unwrap());
        let (crm, _) = crm_answering("200 OK", r#"{"vip":"yes"}"#, Duration::ZERO);
        assert!(
            !crm.is_vip("+15550100123").unwrap(),
            "only JSON true marks a VIP"
        );
    }

    #[test]
    fn a_slow_failing_or_garbled_crm_is_an_error_that_names_the_url() {
        let (crm, _) = crm_answering("200 OK", r#"{"vip":true}"#, Duration::from_secs(2));
        let error = crm.is_vip("+15550100123").unwrap_err().to_string();
        assert!(error.starts_with("GET http://127.0.0.1:"), "{error}");
        let (crm, _) = crm_answering("500 Internal Server Error", "", Duration::ZERO);
        assert!(crm.is_vip("+15550100123").is_err());
        let (crm, _) = crm_answering("200 OK", "<html>", Duration::ZERO);
        let error = crm.is_vip("+15550100123").unwrap_err().to_string();
        assert!(error.contains("not a JSON object"), "{error}");
    }

    #[test]
    fn no_url_is_no_crm() {
        assert!(Crm::new(&CrmSettings::default()).is_none());
    }
}

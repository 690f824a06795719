//! `sessionManager` as JS methods: JSON text in and out; the core does everything else.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::{dynopts, session};

use crate::error::{parse_json, IntoNapi};
use crate::handle::NativeCache;

fn user_value(user_id: String) -> Result<serde_json::Value> {
    parse_json("userId", Some(user_id))
}

#[napi]
impl NativeCache {
    /// Create a session from the data (JSON text) and options `{ ttl?, maxDevices? }`; resolves to
    /// `{"sessionId": …, "session": {…}}` as JSON text.
    #[napi]
    pub async fn create_session(&self, data: String, options: Option<String>) -> Result<String> {
        let input = parse_json("session data", Some(data))?;
        let opts = dynopts::session_options(parse_json("createSession", options)?).napi()?;
        let sys = self.handle();
        let (id, s) = sys.sessions().create(input, opts).await.napi()?;
        Ok(serde_json::json!({ "sessionId": id, "session": s }).to_string())
    }

    /// The session (JSON text) or null; options `{ validateIp?, validateUserAgent? }`.
    #[napi]
    pub async fn get_session(&self, id: String, options: Option<String>) -> Result<Option<String>> {
        let (ip, ua) = dynopts::session_validation(parse_json("getSession", options)?).napi()?;
        let sys = self.handle();
        Ok(sys.sessions().get(&id, ip.as_deref(), ua.as_deref()).await.napi()?.map(|s| s.to_string()))
    }

    /// Record activity and slide the expiry; resolves to whether the session exists.
    #[napi]
    pub async fn touch_session(&self, id: String) -> Result<bool> {
        let sys = self.handle();
        sys.sessions().touch(&id).await.napi()
    }

    /// Delete a session by id or handle.
    #[napi]
    pub async fn delete_session(&self, id: String) -> Result<bool> {
        let sys = self.handle();
        sys.sessions().delete(&id).await.napi()
    }

    /// Delete every session of a user (userId as JSON text); resolves to how many.
    #[napi]
    pub async fn delete_user_sessions(&self, user_id: String) -> Result<f64> {
        let user = user_value(user_id)?;
        let sys = self.handle();
        Ok(sys.sessions().delete_user(&user).await.napi()? as f64)
    }

    /// A user's sessions (JSON array text), most recently active first.
    #[napi]
    pub async fn get_user_sessions(&self, user_id: String) -> Result<String> {
        let user = user_value(user_id)?;
        let sys = self.handle();
        Ok(serde_json::Value::Array(sys.sessions().user_sessions(&user).await.napi()?).to_string())
    }

    /// Session counters as JSON text.
    #[napi]
    pub async fn session_stats(&self) -> Result<String> {
        let sys = self.handle();
        Ok(session::stats_json(&sys.sessions().stats().await.napi()?))
    }
}

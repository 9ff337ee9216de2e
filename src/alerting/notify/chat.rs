//! The chat and push integrations of a receiver (Alertmanager's `telegram_configs`,
//! `discord_configs`, `webex_configs`, `msteams_configs`, `msteamsv2_configs`,
//! `pushover_configs`, `rocketchat_configs`, `mattermost_configs`), built from
//! [`crate::config::alertmanager::integrations`]: one notifier each, named as Alertmanager
//! names them (`telegram[0]`, `msteamsv2[1]`, …), in Alertmanager's order of integration
//! kinds (after webhook and email: pushover, telegram, discord, webex, msteams, msteamsv2,
//! rocketchat, mattermost). Templates and HTTP clients that cannot be used are [`IntegrationError`]s naming
//! the field, at config load.

use std::sync::Arc;

use super::build::{IntegrationError, NotifyContext};
use super::discord::DiscordNotifier;
use super::mattermost::MattermostNotifier;
use super::msteams::MsTeamsNotifier;
use super::msteamsv2::MsTeamsV2Notifier;
use super::pushover::PushoverNotifier;
use super::rocketchat::RocketchatNotifier;
use super::telegram::TelegramNotifier;
use super::webex::WebexNotifier;
use super::Notifier;
use crate::config::alertmanager::integrations::ChatConfigs;

/// Builds the chat integrations of a receiver at `path` (`receivers[2]`) into `out`.
pub fn build(
    c: &ChatConfigs,
    path: &str,
    ctx: &NotifyContext,
    out: &mut Vec<Arc<dyn Notifier>>,
) -> Result<(), IntegrationError> {
    let p = |kind: &str, i: usize| format!("{path}.{kind}[{i}]");
    for (i, x) in c.pushover_configs.iter().enumerate() {
        let n = PushoverNotifier::new(i, &p("pushover_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.telegram_configs.iter().enumerate() {
        let n = TelegramNotifier::new(i, &p("telegram_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.discord_configs.iter().enumerate() {
        let n = DiscordNotifier::new(i, &p("discord_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.webex_configs.iter().enumerate() {
        let n = WebexNotifier::new(i, &p("webex_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.msteams_configs.iter().enumerate() {
        let n = MsTeamsNotifier::new(i, &p("msteams_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.msteamsv2_configs.iter().enumerate() {
        let n = MsTeamsV2Notifier::new(i, &p("msteamsv2_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.rocketchat_configs.iter().enumerate() {
        let n = RocketchatNotifier::new(i, &p("rocketchat_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    for (i, x) in c.mattermost_configs.iter().enumerate() {
        let n = MattermostNotifier::new(i, &p("mattermost_configs", i), x, ctx)?;
        out.push(Arc::new(n));
    }
    Ok(())
}

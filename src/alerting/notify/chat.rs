//! The chat and push integrations of a receiver (Alertmanager's `telegram_configs`,
//! `discord_configs`, `webex_configs`, `msteams_configs`, `msteamsv2_configs`,
//! `pushover_configs`, `rocketchat_configs`, `mattermost_configs`), built from
//! [`crate::config::alertmanager::integrations`]: one notifier each, named as Alertmanager
//! names them (`telegram[0]`, `msteamsv2[1]`, …), in Alertmanager's order of integration
//! kinds (after webhook and email: pushover, telegram, discord, webex, msteams, msteamsv2,
//! rocketchat, mattermost). Templates and HTTP clients that cannot be used are [`IntegrationError`]s naming
//! the field, at config load.

use std::sync::Arc;

use super::build::{entries, IntegrationError, NotifyContext};
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
    entries(
        out,
        path,
        "pushover_configs",
        &c.pushover_configs,
        ctx,
        PushoverNotifier::new,
    )?;
    entries(
        out,
        path,
        "telegram_configs",
        &c.telegram_configs,
        ctx,
        TelegramNotifier::new,
    )?;
    entries(
        out,
        path,
        "discord_configs",
        &c.discord_configs,
        ctx,
        DiscordNotifier::new,
    )?;
    entries(
        out,
        path,
        "webex_configs",
        &c.webex_configs,
        ctx,
        WebexNotifier::new,
    )?;
    entries(
        out,
        path,
        "msteams_configs",
        &c.msteams_configs,
        ctx,
        MsTeamsNotifier::new,
    )?;
    let v2 = &c.msteamsv2_configs;
    entries(
        out,
        path,
        "msteamsv2_configs",
        v2,
        ctx,
        MsTeamsV2Notifier::new,
    )?;
    let rc = &c.rocketchat_configs;
    entries(
        out,
        path,
        "rocketchat_configs",
        rc,
        ctx,
        RocketchatNotifier::new,
    )?;
    let mm = &c.mattermost_configs;
    entries(
        out,
        path,
        "mattermost_configs",
        mm,
        ctx,
        MattermostNotifier::new,
    )?;
    Ok(())
}

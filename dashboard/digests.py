"""Digests and alerts page: subscriptions, a preview of the next digest, alert rules, alerts."""

import streamlit as st

from dashboard import queries, ui, writes
from reactions import alerts as alert_rules
from reactions import digest as digests
from reactions.config import get_settings
from reactions.render import escape_markdown

st.title("Digests and alerts")
store = queries.get_store()
stories = queries.list_stories()
if not stories:
    st.info("No stories yet: add one on the Stories page.")
    st.stop()
slugs = [s.slug for s in stories]


def manage_row(label, items, prefix, describe, set_active, delete):
    """A picker with Pause, Resume and Delete for one of `items` (id -> row)."""
    left, pause, resume, remove = st.columns([3, 1, 1, 1])
    chosen = left.selectbox(label, list(items), key=f"{prefix}_pick",
                            format_func=lambda i: describe(items[i]))
    if pause.button("Pause", key=f"{prefix}_pause"):
        set_active(chosen, False)
        st.rerun()
    if resume.button("Resume", key=f"{prefix}_resume"):
        set_active(chosen, True)
        st.rerun()
    if remove.button("Delete", key=f"{prefix}_delete"):
        delete(chosen)
        st.rerun()


# -- subscriptions ----------------------------------------------------------------------------
st.subheader("Email digests")
MAIL_READY = bool(get_settings().smtp_host)
if not MAIL_READY:
    st.warning("Mail is not configured, so no digest or email alert can be sent: set "
               "`REACTIONS_SMTP_HOST` (and `REACTIONS_SMTP_FROM`, `REACTIONS_SMTP_USER`, "
               "`REACTIONS_SMTP_PASSWORD` as your server needs) where `reactions run` runs. "
               "Subscriptions made now are kept and start once it is.")
for d in digests.unknown_digests(store):  # never resent blindly: someone has to look
    st.warning(escape_markdown(
        f"Digest #{d['id']} ({d['story']}, {d['period_key']}) to {d['address']} may or may "
        f"not have arrived: the send was interrupted after the message was handed over. "
        f"Look for Message-ID {d['message_id']} in that mailbox; it is not resent until "
        f"resolved (here, or reactions digest --resolve {d['id']} --arrived yes|no)."))
    arrived, resend = st.columns(2)
    if arrived.button("It arrived", key=f"digest_arrived_{d['id']}"):
        writes.resolve_digest(d["id"], arrived=True)
        st.rerun()
    if resend.button("It did not arrive: send again", key=f"digest_resend_{d['id']}"):
        writes.resolve_digest(d["id"], arrived=False)
        st.rerun()
subscriptions = digests.list_subscriptions(store)
if subscriptions:
    st.dataframe([{
        "id": s["id"], "story": s["story"], "address": s["address"], "period": s["period"],
        "when (UTC cron)": s["cron"] or digests.DEFAULT_CRON[s["period"]],
        "state": "active" if s["active"] else "paused",
    } for s in subscriptions], hide_index=True, width="stretch", key="subs_table")
    by_id = {s["id"]: s for s in subscriptions}
    manage_row("Subscription", by_id, "sub",
               lambda s: f"#{s['id']} {s['address']} · {s['story']} · {s['period']}",
               writes.set_subscription_active, writes.delete_subscription)
else:
    st.write("No subscriptions yet.")

with st.form("add_subscription"):
    st.markdown("**Subscribe an address**")
    sub_story = st.selectbox("Story", slugs, key="sub_story")
    address = st.text_input("Email address", key="sub_address")
    period = st.selectbox("Period", list(digests.PERIODS), key="sub_period")
    cron = st.text_input("When (crontab in UTC, optional)", key="sub_cron",
                         placeholder="0 7 * * * (daily) or 0 7 * * mon (weekly)")
    if st.form_submit_button("Subscribe"):
        try:
            writes.add_subscription(sub_story, address, period, cron=cron or None)
        except ValueError as exc:
            st.error(escape_markdown(str(exc)))
        else:
            st.success(escape_markdown(f"{address.strip()} gets the {period} digest of {sub_story}.")
                       + ("" if MAIL_READY else " Mail is not configured yet: nothing is sent "
                          "until it is (see above)."))

st.subheader("Preview of the next digest")
left, right = st.columns(2)
preview_story = left.selectbox("Story", slugs, key="preview_story")
preview_period = right.selectbox("Period", list(digests.PERIODS), key="preview_period")
story = next(s for s in stories if s.slug == preview_story)
preview_sub = next((s for s in subscriptions if s["story"] == preview_story
                    and s["period"] == preview_period), None)
built = digests.build_digest(store, story, preview_sub["address"] if preview_sub else
                             "subscriber@example.org", preview_period,
                             subscription_id=preview_sub["id"] if preview_sub else None,
                             save=False)  # viewing the page writes nothing
if not sum(built.counts.values()):
    st.info(f"No post of this story was made in the {preview_period} period, so this digest's "
            "paragraph, shares and top posts are empty: a digest covers its own period only.")
text_part = built.message.get_body(preferencelist=("plain",)).get_content()
image = next((p for p in built.message.walk() if p.get_content_type() == "image/png"), None)
st.text(text_part)  # the mail's plain-text part: post text stays text
if image is not None:
    st.image(image.get_content(), caption="Chart as it appears inline in the mail")
st.download_button("Download as .eml", bytes(built.message), file_name=f"{preview_story}.eml",
                   mime="message/rfc822", key="preview_download")

# -- alerts -----------------------------------------------------------------------------------
st.subheader("Alert rules")
rules = alert_rules.list_rules(store)
if rules:
    st.dataframe([{
        "id": r["id"], "story": r["story"] or "(all)", "kind": r["kind"], "channel": r["channel"],
        "target": r["target"] or "", "settings": ", ".join(f"{k.replace('_', ' ')} {ui.number(v)}"
                             for k, v in r["params"].items()),
        "state": "active" if r["active"] else "paused",
    } for r in rules], hide_index=True, width="stretch", key="rules_table")
    by_rule = {r["id"]: r for r in rules}
    manage_row("Rule", by_rule, "rule", lambda r: f"#{r['id']} {r['kind']} → {r['channel']}",
               writes.set_rule_active, writes.delete_rule)
else:
    st.write("No alert rules yet.")

kind = st.selectbox("New rule: kind", alert_rules.KINDS, key="rule_kind",
                    format_func=lambda k: k.replace("_", " "))
with st.form("add_rule"):
    rule_story = st.selectbox("Story", ["(all stories)", *slugs], key="rule_story")
    channel = st.selectbox("Deliver to", alert_rules.CHANNELS, key="rule_channel")
    target = st.text_input("Email address or webhook URL (not needed for dashboard)",
                           key="rule_target")
    params = {}
    columns = st.columns(len(alert_rules.DEFAULTS[kind]))
    for column, (name, default) in zip(columns, alert_rules.DEFAULTS[kind].items()):
        whole = float(default).is_integer()  # counts and minutes take whole numbers
        params[name] = column.number_input(
            name.replace("_", " "), value=int(default) if whole else float(default),
            min_value=0 if whole else 0.0, step=1 if whole else 0.5, key=f"rule_{kind}_{name}")
    if st.form_submit_button("Add rule"):
        try:
            writes.add_rule(kind, channel=channel, target=target,
                            story=None if rule_story.startswith("(") else rule_story,
                            params=params)
        except ValueError as exc:
            st.error(escape_markdown(str(exc)))
        else:
            st.success(f"{kind.replace('_', ' ')} rule added.")
            if channel == "email" and not MAIL_READY:
                st.warning("Mail is not configured: this rule's alerts show on the dashboard "
                           "but are not mailed until `REACTIONS_SMTP_HOST` is set.")
            else:
                st.rerun()

st.subheader("Recent alerts")
recent = queries.alerts(limit=50)
if recent:
    st.dataframe([{
        "fired": ui.when(a["fired_at"]), "story": a["story"], "kind": a["kind"], "message": a["message"],
        "delivered": ", ".join(f"{d['channel']}: {'ok' if d['ok'] else d['error']}"
                               for d in ([a["delivered"]] if isinstance(a["delivered"], dict)
                                         else a["delivered"])),
        "acknowledged": "yes" if a["acknowledged"] else "no",
    } for a in recent], hide_index=True, width="stretch", key="alerts_table")
else:
    st.write("No alerts have fired.")

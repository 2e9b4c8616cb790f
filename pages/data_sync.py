"""Data & sync: connect QuickBooks Online, sync now, the last runs, and the reconciliation check."""

import streamlit as st

from etl import quickbooks
from etl.tokens import TokenStore
from ui import shell, tables

ctx = shell.prepare("Data & sync")
st.title("Data & sync")

status = quickbooks.settings_status()
st.subheader("QuickBooks Online")
with st.expander("Settings (environment variables or .streamlit/secrets.toml)", expanded=not all(
        status[name] for name in ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REDIRECT_URI", "QBO_REALM_ID"))):
    st.caption("Values are never shown here; only whether each is set.")
    st.dataframe({"setting": list(status), "set": list(status.values())}, hide_index=True)

try:
    settings = quickbooks.read_settings()
except quickbooks.SettingsError as exc:
    st.warning(str(exc))
    st.stop()

store = TokenStore()
connected = bool(store.get(quickbooks.SOURCE, settings.realm_id) or settings.refresh_token)
if not connected:
    st.info(f"Company {settings.realm_id} is not connected yet.")
    if st.button("Get the QuickBooks sign-in link", key="qbo_link"):
        st.session_state["qbo_sign_in"] = quickbooks.authorization_url(settings)
    if "qbo_sign_in" in st.session_state:
        st.link_button("Sign in to QuickBooks", st.session_state["qbo_sign_in"])
        redirect_url = st.text_input("Paste the address QuickBooks redirected you to", key="qbo_redirect")
        if redirect_url:
            try:
                realm = quickbooks.connect_with_redirect(settings, redirect_url, store)
                st.success(f"Connected QuickBooks company {realm}.")
            except quickbooks.SyncError as exc:
                st.error(str(exc))
else:
    st.success(f"Company {settings.realm_id} is connected.", icon=":material/link:")
    full = st.toggle("Re-read everything (full sync)", value=False, key="qbo_full")
    if st.button("Sync now", type="primary", key="qbo_sync"):
        bar = st.progress(0.0, text="Starting")
        try:
            result = quickbooks.sync(ctx.db, settings, store, full=full,
                                     progress=lambda fraction, text: bar.progress(fraction, text=text))
            bar.empty()
            st.success(f"{result.mode.capitalize()} sync done: "
                       + (", ".join(f"{n:,} {t}" for t, n in result.counts.items() if n) or "nothing changed"))
        except quickbooks.SyncError as exc:
            bar.empty()
            st.error(f"Sync failed, nothing was written: {exc}")

st.subheader("Reconciliation with QuickBooks' A/R Aging")
reconciliation = shell.metric("reconciliation_with_source")
if reconciliation.empty:
    st.caption("No QuickBooks aging report stored yet: it is fetched with every sync.")
else:
    report_date = reconciliation["report_date"].iloc[0]
    differences = reconciliation[reconciliation["difference"] != 0]
    if differences.empty:
        st.success(f"Reconciles with QuickBooks: every customer and bucket agrees to the cent at {report_date}.")
    else:
        st.error(f"{len(differences)} customer/bucket figures differ from QuickBooks at {report_date}.")
        tables.show(differences.drop(columns=["company_id", "report_date"]), key="reconciliation")
    st.caption("QuickBooks nets unapplied payments and credits into a customer's row; ledgerlight lists "
               "them apart, so its Current and Total are compared less the customer's unapplied credit. "
               "Sub-customers are compared on their own rows.")

st.subheader("Last runs")
tables.show(shell.metric("sync_history"), key="runs")

"""Data & sync: connect each source, sync now, the reconciliation with the source's own aging,
books from exported files, and the last runs of every source."""

import streamlit as st

from core.access import ADMIN
from core.errors import LedgerlightError
from core.settings import settings
from ui import shell, tables
from ui.format import plain

ctx = shell.prepare("Data & sync")
st.title("Data & sync")


def connect_and_sync(source) -> None:
    connector = source.connector
    status = connector.status(settings())
    with st.expander(f"{source.label} settings (environment variables or .streamlit/secrets.toml)", expanded=not all(status.values())):
        st.caption("Values are never shown here; only whether each is set.")
        st.dataframe({"setting": list(status), "set": list(status.values())}, hide_index=True)
    try:
        chosen = connector.settings(settings())
    except LedgerlightError as exc:
        st.warning(plain(exc))
        return
    if not connector.is_connected(chosen):
        st.info(f"{source.label} is not connected yet.")
        link_key = f"{source.name}_sign_in"
        if st.button(f"Get the {source.label} sign-in link", key=f"{source.name}_link"):
            try:
                st.session_state[link_key] = connector.authorization_url(chosen)
            except LedgerlightError as exc:
                st.error(plain(exc))
        if link_key in st.session_state:
            st.link_button(f"Sign in to {source.label}", st.session_state[link_key])
            redirect_url = st.text_input(f"Paste the address {source.label} redirected you to", key=f"{source.name}_redirect")
            if redirect_url:
                try:
                    st.success(f"Connected {source.label} company {plain(shell.connect(source, chosen, redirect_url))}.")
                except LedgerlightError as exc:
                    st.error(plain(exc))
        return
    st.success(f"Company {plain(source.company(chosen, None).company_id)} is connected.", icon=":material/link:")
    token = connector.saved_token(chosen)
    if token is not None:
        left = token.days_left(ctx.today)
        (st.warning if left is not None and left < connector.warn_days else st.caption)(token.describe(ctx.today))
    full = st.toggle("Re-read everything (full sync)", value=False, key=f"{source.name}_full")
    if st.button("Sync now", type="primary", key=f"{source.name}_sync"):
        result = shell.run_source(source, chosen, full=full)
        if result is not None:
            st.success(plain(result.describe()))


def reconciliation(source) -> None:
    st.markdown(f"**Reconciliation with {source.label}'s A/R aging**")
    compared = shell.metric("reconciliation_with_source", source=source.name)
    if compared.empty:
        st.caption(f"No {source.label} aging report stored yet: it is fetched with every sync.")
        return
    report_date = compared["report_date"].iloc[0]
    differences = compared[compared["difference"] != 0]
    if differences.empty:
        st.success(f"Reconciles with {source.label}: every customer and bucket agrees to the cent at {report_date}.")
    else:
        st.error(f"{len(differences)} customer/bucket figures differ from {source.label} at {report_date}.")
        tables.show(differences.rename(columns={"source": source.label}), key=f"{source.name}_reconciliation",
                    currency=ctx.home_currency)
    st.caption(f"{source.label} nets unapplied payments and credits into a customer's row; ledgerlight lists "
               "them apart, so its Current and Total are compared less the customer's unapplied credit. "
               "Sub-customers are compared on their own rows.")


for source in shell.connectable_sources():
    st.subheader(source.label)
    if shell.allowed(ADMIN):
        connect_and_sync(source)
    else:
        shell.role_needed(ADMIN, f"Connecting and syncing {source.label}")
    reconciliation(source)

def import_files() -> None:
    st.markdown(
        "Your accounting system's exports as CSV or Excel: an **invoices** file, with the **payments** and **credit "
        "notes** files if you have them (Sage, Zoho Books, a PSA's billing), or one of QuickBooks Desktop's reports "
        "*Open Invoices*, *A/R Aging Detail* (what is open on one date: the aging at that date only), *Customer "
        "Balance Detail* or *Transaction List by Customer* (the full history). Each import replaces the imported "
        f"books; docs/sources/files.md says how to export each. Limits: {shell.FILE_LIMITS}.")
    exports = st.file_uploader("Export files", type=["csv", "txt", "xlsx"], accept_multiple_files=True,
                               key="files_upload")
    older = st.checkbox("Replace newer books with this older export", key="files_replace_all",
                        help="An export older than the books already imported is refused unless you confirm here.")
    if exports and st.button("Import files", key="files_import", type="primary"):
        importer = shell.importer("files")
        result = shell.run_source(importer, importer.importer.settings(
            [upload.name for upload in exports], content=[upload.getvalue() for upload in exports], replace_all=older))
        if result is not None:
            st.success(plain(result.describe()))


st.subheader("Books from exported files")
if shell.allowed(ADMIN):
    import_files()
else:
    shell.role_needed(ADMIN, "Importing books from files")

st.subheader("Last runs")
runs = shell.metric("sync_history")
tables.show(runs, key="runs", currency=ctx.home_currency)
noted = runs[runs["warning_count"] > 0]
if not noted.empty:
    latest = noted.iloc[0]
    with st.expander(f"Warnings of run {latest.run_id} ({latest.warning_count}): loaded anyway, worth a look"):
        st.text("\n".join(shell.warnings_of(latest)))

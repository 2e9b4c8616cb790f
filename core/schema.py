"""The canonical A/R schema: one ordered list of migrations.

Every table is keyed by its natural key (source, company_id, <entity id>) so a load of the
same records twice changes nothing. Money is DECIMAL(18,2); exchange rates keep 8 places.
Migrations only ever append: a file written by an older version upgrades in place.
"""

MIGRATIONS: list[tuple[str, str]] = [
    (
        "canonical A/R tables",
        """
        CREATE TABLE companies (
            source          VARCHAR NOT NULL,      -- 'demo', 'quickbooks', 'xero', 'file'
            company_id      VARCHAR NOT NULL,      -- realm id for QuickBooks
            name            VARCHAR NOT NULL,
            home_currency   VARCHAR NOT NULL DEFAULT 'USD',
            data_through    DATE,                  -- newest date the books are complete to
            PRIMARY KEY (source, company_id)
        );

        CREATE TABLE customers (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            name            VARCHAR NOT NULL,
            parent_id       VARCHAR,               -- sub-customers roll up to this customer
            terms           VARCHAR,
            email           VARCHAR,
            currency        VARCHAR NOT NULL DEFAULT 'USD',
            active          BOOLEAN NOT NULL DEFAULT true,
            updated_at      TIMESTAMP,
            PRIMARY KEY (source, company_id, customer_id)
        );

        CREATE TABLE invoices (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            invoice_id      VARCHAR NOT NULL,
            doc_number      VARCHAR,
            customer_id     VARCHAR NOT NULL,
            txn_date        DATE NOT NULL,
            due_date        DATE,                  -- none: due on txn_date
            terms           VARCHAR,
            total           DECIMAL(18,2) NOT NULL,
            currency        VARCHAR NOT NULL DEFAULT 'USD',
            exchange_rate   DECIMAL(18,8) NOT NULL DEFAULT 1,
            home_total      DECIMAL(18,2) NOT NULL,
            status          VARCHAR NOT NULL DEFAULT 'posted'
                            CHECK (status IN ('posted', 'voided', 'deleted')),
            recurring_template_id VARCHAR,         -- made from a recurring schedule
            updated_at      TIMESTAMP,
            PRIMARY KEY (source, company_id, invoice_id)
        );

        CREATE TABLE payments (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            payment_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            txn_date        DATE NOT NULL,
            amount          DECIMAL(18,2) NOT NULL,
            unapplied_amount DECIMAL(18,2) NOT NULL DEFAULT 0,
            method          VARCHAR NOT NULL DEFAULT 'other'
                            CHECK (method IN ('card', 'ach', 'check', 'cash', 'other')),
            currency        VARCHAR NOT NULL DEFAULT 'USD',
            exchange_rate   DECIMAL(18,8) NOT NULL DEFAULT 1,
            status          VARCHAR NOT NULL DEFAULT 'posted'
                            CHECK (status IN ('posted', 'voided', 'deleted')),
            updated_at      TIMESTAMP,
            PRIMARY KEY (source, company_id, payment_id)
        );

        CREATE TABLE credit_memos (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            credit_memo_id  VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            txn_date        DATE NOT NULL,
            total           DECIMAL(18,2) NOT NULL,
            unapplied_amount DECIMAL(18,2) NOT NULL DEFAULT 0,
            currency        VARCHAR NOT NULL DEFAULT 'USD',
            exchange_rate   DECIMAL(18,8) NOT NULL DEFAULT 1,
            status          VARCHAR NOT NULL DEFAULT 'posted'
                            CHECK (status IN ('posted', 'voided', 'deleted')),
            updated_at      TIMESTAMP,
            PRIMARY KEY (source, company_id, credit_memo_id)
        );

        -- One row per amount of a payment or credit memo applied to an invoice, in the
        -- invoice's currency. QuickBooks applies a credit memo through a Payment, so a row
        -- may carry both a payment_id and a credit_memo_id.
        CREATE TABLE applications (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            application_id  VARCHAR NOT NULL,
            invoice_id      VARCHAR NOT NULL,
            payment_id      VARCHAR,
            credit_memo_id  VARCHAR,
            applied_on      DATE NOT NULL,
            amount          DECIMAL(18,2) NOT NULL,
            PRIMARY KEY (source, company_id, application_id),
            CHECK (payment_id IS NOT NULL OR credit_memo_id IS NOT NULL)
        );

        CREATE TABLE recurring_schedules (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            schedule_id     VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            name            VARCHAR,
            amount          DECIMAL(18,2) NOT NULL, -- per interval, transaction currency
            currency        VARCHAR NOT NULL DEFAULT 'USD',
            interval_unit   VARCHAR NOT NULL CHECK (interval_unit IN ('week', 'month', 'year')),
            interval_count  INTEGER NOT NULL DEFAULT 1,
            start_date      DATE,
            end_date        DATE,
            next_date       DATE,
            active          BOOLEAN NOT NULL DEFAULT true,
            updated_at      TIMESTAMP,
            PRIMARY KEY (source, company_id, schedule_id)
        );

        -- Dated history: a customer's autopay status between valid_from and valid_to
        -- (open-ended when NULL), with where we learned it.
        CREATE TABLE autopay_enrollments (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            provenance      VARCHAR NOT NULL CHECK (provenance IN ('imported', 'inferred', 'manual')),
            valid_from      DATE NOT NULL,
            valid_to        DATE,
            status          VARCHAR NOT NULL CHECK (status IN ('enabled', 'disabled')),
            method          VARCHAR NOT NULL DEFAULT 'other' CHECK (method IN ('card', 'ach', 'other')),
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, customer_id, provenance, valid_from)
        );

        CREATE SEQUENCE sync_run_ids START 1;
        CREATE TABLE sync_runs (
            run_id          BIGINT PRIMARY KEY DEFAULT nextval('sync_run_ids'),
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL,      -- 'demo', 'full', 'incremental', 'import'
            started_at      TIMESTAMP NOT NULL,
            finished_at     TIMESTAMP,
            status          VARCHAR NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
            counts          JSON,                  -- rows written per entity
            requests        INTEGER NOT NULL DEFAULT 0,
            error           VARCHAR
        );
        """,
    ),
    (
        "write-offs on credit memos, invoice kind",
        """
        -- Bad-debt ratio needs to know which credits wrote A/R off rather than refunded it.
        ALTER TABLE credit_memos ADD COLUMN is_write_off BOOLEAN DEFAULT false;
        -- 'recurring', 'project', 'hardware', 'other': payment habits differ by kind.
        ALTER TABLE invoices ADD COLUMN kind VARCHAR DEFAULT 'other';
        """,
    ),
    (
        "sync cursors and the source's own aging for reconciliation",
        """
        -- Where the next incremental sync starts: the source's clock at the start of this run.
        -- Only a succeeded run's cursor counts, so a failed run is simply redone.
        ALTER TABLE sync_runs ADD COLUMN cursor VARCHAR;
        -- The source's own A/R aging as of a date (QuickBooks' AgedReceivables), stored as
        -- received so ledgerlight's aging can be checked against it bucket by bucket.
        CREATE TABLE source_aging (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            report_date     DATE NOT NULL,
            customer_id     VARCHAR NOT NULL,      -- '' for the grand total row
            customer        VARCHAR,
            bucket          VARCHAR NOT NULL,      -- the report's column title, e.g. '1 - 30'
            amount          DECIMAL(18,2) NOT NULL,
            PRIMARY KEY (source, company_id, report_date, customer_id, bucket)
        );
        -- Small reference lists a source's records point at (QuickBooks Term, PaymentMethod),
        -- kept so an incremental sync can map records without fetching them again.
        CREATE TABLE source_refs (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            entity          VARCHAR NOT NULL,      -- 'Term', 'PaymentMethod'
            ref_id          VARCHAR NOT NULL,
            record          JSON NOT NULL,         -- the record as received
            PRIMARY KEY (source, company_id, entity, ref_id)
        );
        """,
    ),
    (
        "origin: which source wrote each autopay period and each run",
        """
        -- Several writers share the enrollment history of one company: the demo, a portal roster,
        -- the inference and (later) people. Each owns only its own rows, so a full re-read by one
        -- can never delete another's: `origin` names the writer and is part of the key.
        CREATE TABLE autopay_enrollments_v4 (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            origin          VARCHAR NOT NULL,      -- 'demo', 'autopay_roster', 'inference', 'manual'
            provenance      VARCHAR NOT NULL CHECK (provenance IN ('imported', 'inferred', 'manual')),
            valid_from      DATE NOT NULL,
            valid_to        DATE,
            status          VARCHAR NOT NULL CHECK (status IN ('enabled', 'disabled')),
            method          VARCHAR NOT NULL DEFAULT 'other' CHECK (method IN ('card', 'ach', 'other')),
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, customer_id, origin, valid_from)
        );
        INSERT INTO autopay_enrollments_v4 BY NAME
        SELECT *, CASE WHEN provenance = 'inferred' THEN 'inference'
                       WHEN provenance = 'manual' THEN 'manual'
                       WHEN source = 'demo' THEN 'demo'
                       ELSE 'autopay_roster' END AS origin
        FROM autopay_enrollments;
        DROP TABLE autopay_enrollments;
        ALTER TABLE autopay_enrollments_v4 RENAME TO autopay_enrollments;

        ALTER TABLE sync_runs ADD COLUMN origin VARCHAR;
        UPDATE sync_runs SET origin = CASE kind WHEN 'import' THEN 'autopay_roster' WHEN 'inference' THEN 'inference'
                                                WHEN 'demo' THEN 'demo' ELSE source END;
        """,
    ),
    (
        "document types of A/R items, and warnings on runs",
        """
        -- Real books carry A/R items that are not invoices: a journal entry that charges a customer,
        -- a cheque refunding a customer's credit, a statement charge. They age and get paid like
        -- invoices, but they are not sales. 'invoice' | 'journal_entry' | 'refund' | 'statement_charge'.
        ALTER TABLE invoices ADD COLUMN doc_type VARCHAR DEFAULT 'invoice';
        -- Credit from a journal entry crediting a customer's A/R beside credit memos:
        -- 'credit_memo' | 'journal_entry'.
        ALTER TABLE credit_memos ADD COLUMN doc_type VARCHAR DEFAULT 'credit_memo';
        -- Money received by a payment, a bank deposit credited to a customer, or a deposit taken
        -- on the invoice itself: 'payment' | 'deposit' | 'invoice_deposit'.
        ALTER TABLE payments ADD COLUMN doc_type VARCHAR DEFAULT 'payment';
        -- What was merely odd in a run (loaded anyway), one sentence each.
        ALTER TABLE sync_runs ADD COLUMN warnings JSON;
        -- The source record a row was derived from, e.g. 'Payment:77' for the applications a
        -- QuickBooks payment's lines make, 'JournalEntry:160' for the A/R items of a journal
        -- entry: when that record changes or goes, every row it made is replaced.
        ALTER TABLE applications ADD COLUMN made_by VARCHAR;
        ALTER TABLE invoices ADD COLUMN made_by VARCHAR;
        ALTER TABLE payments ADD COLUMN made_by VARCHAR;
        ALTER TABLE credit_memos ADD COLUMN made_by VARCHAR;
        UPDATE applications SET made_by = 'Payment:' || payment_id WHERE source = 'quickbooks';
        -- A credit whose unapplied part the source does not state (a journal entry crediting a
        -- customer, a bank deposit) has none: ledgerlight derives it from the applications.
        ALTER TABLE payments ALTER COLUMN unapplied_amount DROP NOT NULL;
        ALTER TABLE credit_memos ALTER COLUMN unapplied_amount DROP NOT NULL;
        """,
    ),
    (
        "who ran each run",
        """
        -- The actor of a run (core/access.py): the signed-in user's e-mail address, or os:<user>
        -- for the machine's own user (the command line, cron, a dashboard only this machine
        -- reaches). NULL for runs recorded before ledgerlight knew who was acting.
        ALTER TABLE sync_runs ADD COLUMN actor VARCHAR;
        """,
    ),
    (
        "companies whose books are a snapshot of one date",
        """
        -- Books read from a report of what was open on one date (QuickBooks Desktop's Open Invoices
        -- or A/R Aging Detail) hold no history: their aging is known at that date only, and nothing
        -- that needs the history (a trend, sales, payment habits, a forecast). NULL: the books hold
        -- their history.
        ALTER TABLE companies ADD COLUMN snapshot_on DATE;
        """,
    ),
    (
        "collections: activity, promises to pay, disputes, next actions, reminder templates and deliveries",
        """
        -- ledgerlight's own data: what people did and agreed while chasing payment. No source writes
        -- these tables. `origin` names the writer: 'user' (a person, through etl/activity.py; no run,
        -- sync, import or demo rebuild ever touches these rows) or 'demo' (the demo company's
        -- generated history, replaced on each demo rebuild). Amounts are in the home currency.
        CREATE TABLE collection_activities (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            activity_id     VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,      -- the account (top-level customer) it is about
            invoice_id      VARCHAR,               -- when it is about one invoice
            kind            VARCHAR NOT NULL CHECK (kind IN ('note', 'call', 'email', 'reminder')),
            activity_on     DATE NOT NULL,
            author          VARCHAR NOT NULL,
            body            VARCHAR NOT NULL,
            origin          VARCHAR NOT NULL,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, activity_id)
        );
        -- A promise to pay `amount` by `pay_by`, made on `made_on`, for the named invoices (an
        -- empty list: for the account as a whole). Kept, broken or open: docs/collections.md.
        CREATE TABLE payment_promises (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            promise_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            made_on         DATE NOT NULL,
            pay_by          DATE NOT NULL,
            amount          DECIMAL(18,2) NOT NULL CHECK (amount > 0),
            invoice_ids     VARCHAR[] NOT NULL,
            note            VARCHAR,
            author          VARCHAR NOT NULL,
            origin          VARCHAR NOT NULL,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, promise_id),
            CHECK (pay_by >= made_on)
        );
        -- An invoice the client disputes: its open amount is shown apart from the amount to chase
        -- from `opened_on` until `resolved_on`.
        CREATE TABLE disputes (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            dispute_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            invoice_id      VARCHAR NOT NULL,
            reason          VARCHAR NOT NULL,
            opened_on       DATE NOT NULL,
            resolved_on     DATE,
            resolution      VARCHAR,
            author          VARCHAR NOT NULL,
            resolved_by     VARCHAR,
            origin          VARCHAR NOT NULL,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, dispute_id),
            CHECK (resolved_on IS NULL OR resolved_on >= opened_on)
        );
        -- The one next action per account and writer: a person's row wins over the demo's; a
        -- person's row with no due date clears it.
        CREATE TABLE next_actions (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            origin          VARCHAR NOT NULL,
            due_on          DATE,
            owner           VARCHAR,
            action          VARCHAR,
            author          VARCHAR NOT NULL,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, customer_id, origin)
        );
        -- Reminder templates as edited (the defaults live in the code, etl/reminder_templates.py):
        -- a row replaces the default stage of the same name, or adds a stage.
        CREATE TABLE reminder_templates (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            stage           VARCHAR NOT NULL,
            kind            VARCHAR NOT NULL CHECK (kind IN ('overdue', 'autopay_invite')),
            days_past_due   INTEGER CHECK (days_past_due IS NULL OR days_past_due >= 1),
            subject         VARCHAR NOT NULL,
            body            VARCHAR NOT NULL,
            active          BOOLEAN NOT NULL DEFAULT true,
            author          VARCHAR NOT NULL,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, stage)
        );
        -- Exactly once: one row per invoice and stage (invoice_id '' for a message about the client,
        -- the autopay invitation), written 'sending' before the message goes and 'sent' once the
        -- server took it. A row left 'sending' (the process died in between) is uncertain: it is
        -- never sent again by itself.
        CREATE TABLE reminder_deliveries (
            source          VARCHAR NOT NULL,
            company_id      VARCHAR NOT NULL,
            stage           VARCHAR NOT NULL,
            customer_id     VARCHAR NOT NULL,
            invoice_id      VARCHAR NOT NULL,
            origin          VARCHAR NOT NULL,
            message_id      VARCHAR NOT NULL,
            status          VARCHAR NOT NULL CHECK (status IN ('sending', 'sent')),
            via             VARCHAR NOT NULL CHECK (via IN ('smtp', 'eml')),
            recipients      VARCHAR[] NOT NULL,
            subject         VARCHAR NOT NULL,
            author          VARCHAR NOT NULL,
            claimed_at      TIMESTAMP NOT NULL,
            sent_at         TIMESTAMP,
            recorded_at     TIMESTAMP,
            PRIMARY KEY (source, company_id, stage, customer_id, invoice_id, origin)
        );
        """,
    ),
    (
        "the record of review packs emailed",
        """
        -- Each monthly review pack emailed (python -m etl pack --email): about the whole file, not a
        -- client, so beside reminder_deliveries rather than in it. Written 'sending' before the
        -- message goes and 'sent' once the server took it; a refused message's row is deleted; one
        -- left 'sending' (the connection broke while the server held it) may or may not have gone.
        -- No run, sync or demo rebuild touches it.
        CREATE TABLE pack_deliveries (
            message_id      VARCHAR PRIMARY KEY,
            month           DATE NOT NULL,         -- the first day of the month the pack is for
            as_of           DATE NOT NULL,         -- the date its figures are as of
            company         VARCHAR NOT NULL,      -- the name on its cover
            status          VARCHAR NOT NULL CHECK (status IN ('sending', 'sent')),
            via             VARCHAR NOT NULL CHECK (via IN ('smtp')),
            recipients      VARCHAR[] NOT NULL,
            subject         VARCHAR NOT NULL,
            attachment      VARCHAR NOT NULL,      -- the PDF's file name
            author          VARCHAR NOT NULL,
            claimed_at      TIMESTAMP NOT NULL,
            sent_at         TIMESTAMP
        );
        """,
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)

# Writers of autopay periods other than the registered sources.
INFERENCE_ORIGIN = "inference"
MANUAL_ORIGIN = "manual"
# Who wrote a row of ledgerlight's own collections data: a person, or the demo's generated history.
USER_ORIGIN = "user"
DEMO_ORIGIN = "demo"

# ledgerlight's own collections data (no source's books): see the migration above.
ACTIVITY_TABLES = (
    "collection_activities",
    "payment_promises",
    "disputes",
    "next_actions",
    "reminder_templates",
    "reminder_deliveries",
)

# The tables that hold one company's books, in load order (parents first).
BOOK_TABLES = (
    "customers",
    "invoices",
    "payments",
    "credit_memos",
    "applications",
    "recurring_schedules",
    "autopay_enrollments",
)

-- revision: 0014_credit_expiry_index
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE client (
	id VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	name_key VARCHAR(200) NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	qb_customer_id VARCHAR(64), 
	credits_issued_minor BIGINT NOT NULL, 
	credits_applied_minor BIGINT NOT NULL, 
	created_at DATETIME NOT NULL, next_expiry_on DATE, 
	PRIMARY KEY (id), 
	UNIQUE (name_key), 
	UNIQUE (qb_customer_id)
);
CREATE TABLE history (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	client_id VARCHAR(64), 
	invoice_id INTEGER, 
	subject VARCHAR(120) NOT NULL, 
	"before" JSON, 
	"after" JSON, 
	detail VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_history_at ON history (at);
CREATE INDEX ix_history_client_id ON history (client_id);
CREATE INDEX ix_history_invoice_id ON history (invoice_id);
CREATE TABLE idempotency_key (
	"key" VARCHAR(200) NOT NULL, 
	operation VARCHAR(40) NOT NULL, 
	request_hash VARCHAR(64) NOT NULL, 
	result JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE project (
	id VARCHAR(64) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_project_client_id ON project (client_id);
CREATE TABLE invoice (
	id INTEGER NOT NULL, 
	number VARCHAR(64) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	project_id VARCHAR(64), 
	issued_on DATE NOT NULL, 
	total_minor BIGINT NOT NULL, 
	posted_to_qb_at DATETIME, 
	qb_invoice_id VARCHAR(64), 
	updated_at DATETIME, 
	created_at DATETIME NOT NULL, 
	cash_paid_minor BIGINT NOT NULL, 
	credits_applied_minor BIGINT NOT NULL, 
	qb_credit_memos_minor BIGINT NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(project_id) REFERENCES project (id), 
	PRIMARY KEY (id), 
	UNIQUE (number)
);
CREATE INDEX ix_invoice_client_id ON invoice (client_id);
CREATE INDEX ix_invoice_open_by_client ON invoice (client_id) WHERE total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor;
CREATE INDEX ix_invoice_qb_invoice_id ON invoice (qb_invoice_id);
CREATE TABLE payment (
	id INTEGER NOT NULL, 
	external_id VARCHAR(64), 
	invoice_id INTEGER NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	received_on DATE NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	project_id VARCHAR(64), 
	created_by VARCHAR(120) NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(invoice_id) REFERENCES invoice (id), 
	PRIMARY KEY (id), 
	UNIQUE (external_id)
);
CREATE INDEX ix_payment_invoice_id ON payment (invoice_id);
CREATE TABLE pending_approval (
	id INTEGER NOT NULL, 
	request_key VARCHAR(200) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	params JSON NOT NULL, 
	client_id VARCHAR(64), 
	requester VARCHAR(120) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	decided_by VARCHAR(120), 
	decided_at DATETIME, 
	result JSON, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (request_key)
);
CREATE INDEX ix_pending_approval_client_id ON pending_approval (client_id);
CREATE TABLE qb_overpayment (
	id INTEGER NOT NULL, 
	qb_payment_id VARCHAR(64) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	qb_txn_date DATE NOT NULL, 
	seen_at DATETIME NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	PRIMARY KEY (id), 
	UNIQUE (qb_payment_id)
);
CREATE INDEX ix_qb_overpayment_client_id ON qb_overpayment (client_id);
CREATE TABLE qb_txn (
	id INTEGER NOT NULL, 
	entity_type VARCHAR(16) NOT NULL, 
	qbo_id VARCHAR(32) NOT NULL, 
	sync_token BIGINT, 
	status VARCHAR(16) NOT NULL, 
	client_id VARCHAR(64), 
	invoice_id INTEGER, 
	qb_updated_at DATETIME, 
	payload JSON, 
	synced_at DATETIME NOT NULL, 
	CONSTRAINT uq_qb_txn_entity UNIQUE (entity_type, qbo_id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(invoice_id) REFERENCES invoice (id), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_qb_txn_status ON qb_txn (status);
CREATE TABLE qb_txn_payment (
	id INTEGER NOT NULL, 
	qb_txn_id INTEGER NOT NULL, 
	payment_id INTEGER NOT NULL, 
	FOREIGN KEY(payment_id) REFERENCES payment (id), 
	FOREIGN KEY(qb_txn_id) REFERENCES qb_txn (id), 
	PRIMARY KEY (id), 
	UNIQUE (payment_id)
);
CREATE INDEX ix_qb_txn_payment_qb_txn_id ON qb_txn_payment (qb_txn_id);
CREATE TABLE scan_finding (
	id INTEGER NOT NULL, 
	fingerprint VARCHAR(250) NOT NULL, 
	occurrence INTEGER NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	scope VARCHAR(120) NOT NULL, 
	invoice_id INTEGER, 
	invoice_number VARCHAR(64), 
	client_id VARCHAR(64), 
	amount_minor BIGINT, 
	currency VARCHAR(3), 
	detail TEXT NOT NULL, 
	payment_ids JSON NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	changed_at DATETIME NOT NULL, 
	closed_at DATETIME, 
	acknowledged_by VARCHAR(120), 
	acknowledged_at DATETIME, 
	alert_state VARCHAR(16) NOT NULL, 
	alert_claim VARCHAR(64), 
	alert_claimed_at DATETIME, 
	alert_attempt VARCHAR(64), 
	alert_attempted_at DATETIME, 
	alert_channel VARCHAR(64), 
	alert_ts VARCHAR(32), 
	CONSTRAINT uq_scan_finding_occurrence UNIQUE (fingerprint, occurrence), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_scan_finding_alert ON scan_finding (alert_state);
CREATE INDEX ix_scan_finding_alert_ts ON scan_finding (alert_ts);
CREATE INDEX ix_scan_finding_live_scope ON scan_finding (kind, scope) WHERE closed_at IS NULL;
CREATE UNIQUE INDEX ux_scan_finding_live ON scan_finding (fingerprint) WHERE closed_at IS NULL;
CREATE TABLE scan_slot (
	id INTEGER NOT NULL, 
	job VARCHAR(40) NOT NULL, 
	slot DATETIME NOT NULL, 
	instance VARCHAR(120) NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(16) NOT NULL, 
	detail TEXT DEFAULT '' NOT NULL, 
	CONSTRAINT uq_scan_slot_job_slot UNIQUE (job, slot), 
	PRIMARY KEY (id)
);
CREATE TABLE scan_watermark (
	detector VARCHAR(40) NOT NULL, 
	positions JSON NOT NULL, 
	config VARCHAR(120) NOT NULL, 
	generation BIGINT NOT NULL, 
	scanned_at DATETIME NOT NULL, 
	PRIMARY KEY (detector)
);
CREATE INDEX ix_scan_finding_live_invoice ON scan_finding (invoice_number) WHERE closed_at IS NULL;
CREATE INDEX ix_payment_client_kind_project ON payment (client_id, kind, project_id, amount_minor);
CREATE TABLE approval_usage (
	id INTEGER NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_approval_usage_client_action_at ON approval_usage (client_id, action, at);
CREATE TABLE qbo_connection (
	id INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	realm_id VARCHAR(32), 
	access_token TEXT, 
	refresh_token TEXT, 
	access_expires_at DATETIME, 
	refresh_expires_at DATETIME, 
	token_version BIGINT NOT NULL, 
	connected_at DATETIME, 
	connected_by VARCHAR(120), 
	changed_since DATETIME, 
	last_poll_at DATETIME, 
	last_error TEXT, 
	last_error_at DATETIME, 
	alerted_error TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE qbo_auth_state (
	state VARCHAR(64) NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (state)
);
CREATE TABLE qbo_memo_action (
	id INTEGER NOT NULL, 
	request_key VARCHAR(200) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	invoice_number VARCHAR(64) NOT NULL, 
	qb_invoice_id VARCHAR(32) NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	qb_credit_memo_id VARCHAR(32) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	approved_by VARCHAR(120), 
	status VARCHAR(16) NOT NULL, 
	qb_payment_id VARCHAR(32), 
	detail TEXT, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	PRIMARY KEY (id), 
	UNIQUE (request_key)
);
CREATE INDEX ix_qbo_memo_action_client_id ON qbo_memo_action (client_id);
CREATE TABLE credit_transfer (
	id INTEGER NOT NULL, 
	from_client_id VARCHAR(64) NOT NULL, 
	to_client_id VARCHAR(64) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	reason VARCHAR NOT NULL, 
	created_by VARCHAR(120) NOT NULL, 
	created_at DATETIME NOT NULL, 
	FOREIGN KEY(from_client_id) REFERENCES client (id), 
	FOREIGN KEY(to_client_id) REFERENCES client (id), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_credit_transfer_from_client_id ON credit_transfer (from_client_id);
CREATE INDEX ix_credit_transfer_to_client_id ON credit_transfer (to_client_id);
CREATE TABLE "credit" (
	id INTEGER NOT NULL, 
	external_id VARCHAR(64), 
	client_id VARCHAR(64) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	issued_on DATE NOT NULL, 
	reason VARCHAR NOT NULL, 
	qb_payment_id VARCHAR(64), 
	created_by VARCHAR(120) NOT NULL, 
	created_at DATETIME NOT NULL, 
	kind VARCHAR(16) DEFAULT 'grant' NOT NULL, 
	expires_on DATE, 
	transfer_id INTEGER, 
	CONSTRAINT fk_credit_transfer_id FOREIGN KEY(transfer_id) REFERENCES credit_transfer (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	PRIMARY KEY (id), 
	UNIQUE (external_id), 
	UNIQUE (qb_payment_id)
);
CREATE INDEX ix_credit_client_id ON credit (client_id);
CREATE INDEX ix_credit_transfer_id ON credit (transfer_id);
CREATE TABLE credit_refund (
	id INTEGER NOT NULL, 
	credit_id INTEGER NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	amount_minor BIGINT NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	reference VARCHAR(64) NOT NULL, 
	reason VARCHAR NOT NULL, 
	follow_status VARCHAR(16) NOT NULL, 
	created_by VARCHAR(120) NOT NULL, 
	created_at DATETIME NOT NULL, 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(credit_id) REFERENCES credit (id), 
	PRIMARY KEY (id), 
	UNIQUE (credit_id), 
	UNIQUE (reference)
);
CREATE INDEX ix_credit_refund_client_id ON credit_refund (client_id);
CREATE INDEX ix_credit_refund_follow_status ON credit_refund (follow_status);
CREATE TABLE "reversal" (
	id INTEGER NOT NULL, 
	payment_id INTEGER NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	reason VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	amount_minor BIGINT, 
	remainder_payment_id INTEGER, 
	CONSTRAINT ck_reversal_amount CHECK (amount_minor IS NULL OR amount_minor > 0), 
	CONSTRAINT fk_reversal_remainder_payment FOREIGN KEY(remainder_payment_id) REFERENCES payment (id), 
	CONSTRAINT uq_reversal_remainder_payment_id UNIQUE (remainder_payment_id), 
	FOREIGN KEY(payment_id) REFERENCES payment (id), 
	PRIMARY KEY (id), 
	UNIQUE (payment_id)
);
CREATE VIRTUAL TABLE client_name_trigram USING fts5(name_key, client_id UNINDEXED, tokenize='trigram');
CREATE TRIGGER client_name_trigram_insert AFTER INSERT ON client BEGIN INSERT INTO client_name_trigram (rowid, name_key, client_id) VALUES (new.rowid, new.name_key, new.id); END;
CREATE TRIGGER client_name_trigram_update AFTER UPDATE OF name_key, id ON client BEGIN UPDATE client_name_trigram SET name_key = new.name_key, client_id = new.id WHERE rowid = old.rowid; END;
CREATE TRIGGER client_name_trigram_delete AFTER DELETE ON client BEGIN DELETE FROM client_name_trigram WHERE rowid = old.rowid; END;
CREATE INDEX ix_client_unapplied ON client ((credits_issued_minor - credits_applied_minor));
CREATE INDEX ix_qb_txn_synced_at ON qb_txn (synced_at);
CREATE INDEX ix_client_id_lower ON client (lower(id));
CREATE INDEX ix_credit_expires_on ON credit (expires_on);
INSERT INTO alembic_version (version_num) VALUES ('0014_credit_expiry_index');

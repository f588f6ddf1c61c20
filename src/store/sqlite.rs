//! Accounts, history and topics in a SQLite file.

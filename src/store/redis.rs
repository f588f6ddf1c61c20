//! Accounts and history in Redis, shared by every node of a cluster.

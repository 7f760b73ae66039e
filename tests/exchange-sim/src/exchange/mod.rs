//! The Exchange model: directory, cmdlets, OPATH filters, RBAC, seeding.

//! Approvals (DESIGN §6).

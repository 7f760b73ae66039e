//! HTTP + WS-Management + PSRP server side. Knows nothing of mailboxes.

"""Mail itself: reading RFC 5322 messages, writing replies, and talking to SMTP and IMAP servers."""

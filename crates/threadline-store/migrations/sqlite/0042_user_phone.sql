-- The number or SIP address a user answers calls on: Threadline's voice
-- inboxes ring it for click-to-call (threadline_domain::voice).
ALTER TABLE users ADD COLUMN phone TEXT;

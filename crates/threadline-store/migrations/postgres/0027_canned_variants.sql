-- One source per message, in several languages and on every channel: a
-- canned response's translations (JSON object, language tag → text) and
-- the approved WhatsApp template that stands in for it outside the
-- 24-hour window (JSON: name and the variables filling its places).
ALTER TABLE canned_responses ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE canned_responses ADD COLUMN whatsapp_template TEXT;

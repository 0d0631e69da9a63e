-- Name keys are now made by the same word reader triage uses, which folds
-- more letters (ç, ñ, ã, å…). Keys of names outside plain ASCII are made
-- again when the store starts (Store::migrate).
UPDATE contacts SET name_key = NULL WHERE name GLOB '*[^ -~]*';

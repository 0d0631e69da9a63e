-- What an API token may do beyond its user's role (threadline_domain::role::Scope),
-- comma-separated: `api` acts as the user; `integration` also posts
-- customers' messages and reports deliveries. Tokens from before keep
-- working as they did for administrators (integrations were set up with an
-- admin's token); other users' tokens act as their user only.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'api';
UPDATE api_tokens SET scopes = 'api,integration'
    WHERE user_id IN (SELECT id FROM users WHERE role = 'admin');

//! Roles and what each may do. Every API route checks one [`Permission`];
//! the table below is the whole access policy, in one place.

use serde::{Deserialize, Serialize};

use crate::conversation::string_enum;

string_enum! {
    Role { Agent => "agent", Supervisor => "supervisor", Admin => "admin" }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Read and answer conversations, manage contacts and their timeline.
    HandleConversations,
    /// Merge contacts and read the audit log.
    SuperviseContacts,
    /// Create and edit teams.
    ManageTeams,
    /// Users, inboxes, webhooks, API tokens, account settings.
    Administer,
}

string_enum! {
    /// What an API token may be used for, beyond its user's role.
    ///
    /// - `api`: act as the token's user, within their role (the default);
    /// - `integration`: speak *for customers and channels* — post customers'
    ///   messages into API-channel inboxes and report delivery of replies.
    ///   An agent answers customers; they do not get to write as one, nor to
    ///   say a reply was delivered: those are an integration's rights, given
    ///   to a token by an administrator.
    Scope { Api => "api", Integration => "integration" }
}

impl Role {
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::HandleConversations => true,
            Permission::SuperviseContacts | Permission::ManageTeams => matches!(self, Role::Supervisor | Role::Admin),
            Permission::Administer => self == Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_table() {
        assert!(Role::Agent.allows(Permission::HandleConversations));
        assert!(!Role::Agent.allows(Permission::SuperviseContacts));
        assert!(Role::Supervisor.allows(Permission::ManageTeams));
        assert!(!Role::Supervisor.allows(Permission::Administer));
        assert!(Role::Admin.allows(Permission::Administer));
    }
}

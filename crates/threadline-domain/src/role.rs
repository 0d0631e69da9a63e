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

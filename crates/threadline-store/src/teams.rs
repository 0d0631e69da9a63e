//! Teams: groups of users that conversations can be routed to.

use serde::Serialize;
use threadline_domain::ids::{AccountId, TeamId, UserId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub description: Option<String>,
    pub member_ids: Vec<UserId>,
    /// How the team's queue is routed.
    pub routing: crate::routing::TeamRouting,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Store {
    pub async fn create_team(&self, account_id: AccountId, name: &str, description: Option<String>) -> Result<Team> {
        let team = Team {
            id: TeamId::new(),
            name: name.to_owned(),
            description,
            member_ids: Vec::new(),
            routing: Default::default(),
            created_at: now(),
        };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO teams (id, account_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, name) DO NOTHING",
        )
        .bind(team.id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(team.description.clone())
        .bind(micros(team.created_at))
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("a team named {name} already exists")));
        }
        tx.commit().await?;
        Ok(team)
    }

    pub async fn team(&self, account_id: AccountId, id: TeamId) -> Result<Team> {
        self.teams_where(account_id, Some(id)).await?.pop().ok_or(StoreError::NotFound)
    }

    pub async fn teams(&self, account_id: AccountId) -> Result<Vec<Team>> {
        self.teams_where(account_id, None).await
    }

    async fn teams_where(&self, account_id: AccountId, id: Option<TeamId>) -> Result<Vec<Team>> {
        let rows = sqlx::query(
            "SELECT id, name, description, routing, created_at FROM teams WHERE account_id = $1 AND ($2 IS NULL OR id = $2) ORDER BY name",
        )
        .bind(account_id.to_string())
        .bind(id.map(|i| i.to_string()))
        .fetch_all(&self.pool)
        .await?;
        let members = sqlx::query(
            "SELECT m.team_id, m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id \
             JOIN users u ON u.id = m.user_id WHERE t.account_id = $1 AND u.deleted_at IS NULL ORDER BY m.user_id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut teams = Vec::with_capacity(rows.len());
        for row in &rows {
            let team_id: TeamId = rows::parse(row, "id")?;
            let mut member_ids = Vec::new();
            for m in &members {
                if rows::parse::<TeamId>(m, "team_id")? == team_id {
                    member_ids.push(rows::parse(m, "user_id")?);
                }
            }
            teams.push(Team {
                id: team_id,
                name: rows::text(row, "name")?,
                description: rows::opt_text(row, "description")?,
                member_ids,
                routing: match rows::opt_text(row, "routing")? {
                    Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("team routing: {e}")))?,
                    None => Default::default(),
                },
                created_at: rows::time(row, "created_at")?,
            });
        }
        Ok(teams)
    }

    pub async fn update_team(&self, account_id: AccountId, id: TeamId, name: Option<String>, description: Option<String>) -> Result<Team> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE teams SET name = COALESCE($3, name), description = COALESCE($4, description) WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(description)
        .execute(tx.conn())
        .await;
        match done {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound),
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict("a team with that name already exists".into()));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        self.team(account_id, id).await
    }

    pub async fn delete_team(&self, account_id: AccountId, id: TeamId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE conversations SET team_id = NULL WHERE team_id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND team_id IN (SELECT id FROM teams WHERE account_id = $2)")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        let done = sqlx::query("DELETE FROM teams WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds or removes a member; both the team and the user must be in the account.
    pub async fn set_team_member(&self, account_id: AccountId, team_id: TeamId, user_id: UserId, member: bool) -> Result<Team> {
        self.team(account_id, team_id).await?;
        self.user(account_id, user_id).await?;
        let mut tx = self.begin_write().await?;
        let sql = if member {
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2"
        };
        sqlx::query(sql).bind(team_id.to_string()).bind(user_id.to_string()).execute(tx.conn()).await?;
        tx.commit().await?;
        self.team(account_id, team_id).await
    }
}

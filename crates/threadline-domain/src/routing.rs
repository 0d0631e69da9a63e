//! Routing: which agent a waiting conversation goes to, and why.
//!
//! A team's queue holds its open, unassigned conversations, ordered by
//! priority and then by how long they have waited ([`queue_order`]). For
//! each, in that order, the team's [`Strategy`] picks among the agents who
//! are online and have room for one more conversation on its channel
//! ([`Capacity`]: by default 1 call, 3 chats, 10 emails at once):
//!
//! - **round robin**: the agent who was given a conversation longest ago;
//! - **least busy**: the agent with the most room left on that channel;
//! - **skills**: the agent whose skills best meet the conversation's
//!   [`Requirement`]s (its language, category, channel and the customer's
//!   attributes, per the team's [`SkillsPolicy`]); when nobody meets them,
//!   the policy's [`Fallback`] says whether to give it to the least busy
//!   agent anyway or keep it waiting.
//!
//! Every decision carries its reason in words, which Threadline stores with
//! the assignment. This module only decides; reading agents and writing
//! assignments is the store's job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::channel::Channel;
use crate::conversation::{Priority, string_enum};
use crate::ids::{ConversationId, UserId};
use crate::triage::rank;

string_enum! {
    /// How a team's queue picks an agent.
    Strategy { RoundRobin => "round_robin", LeastBusy => "least_busy", Skills => "skills" }
}

string_enum! {
    /// Whether an agent is taking conversations.
    Presence { Online => "online", Away => "away", Offline => "offline" }
}

string_enum! {
    /// What skills-based routing does when no available agent qualifies.
    Fallback {
        /// Give it to the least busy available agent, saying so.
        AnyAgent => "any_agent",
        /// Keep it in the queue until a qualified agent is available.
        Wait => "wait",
    }
}

/// How many conversations on a channel an agent handles at once when their
/// own setting does not say: one call, three chats, ten emails.
pub fn default_capacity(channel: Channel) -> u32 {
    match channel {
        Channel::Voice | Channel::Shop => 1,
        Channel::WebChat | Channel::InApp | Channel::Whatsapp | Channel::Messenger | Channel::Instagram | Channel::Telegram => 3,
        Channel::Sms | Channel::Api => 5,
        Channel::Email => 10,
    }
}

/// An agent's own limits per channel; channels not named take
/// [`default_capacity`].
pub type Capacity = BTreeMap<Channel, u32>;

/// A skill's level: 1 (basic) to 5 (expert).
pub const MAX_LEVEL: u8 = 5;

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: UserId,
    pub name: String,
    pub presence: Presence,
    /// Skill name (`language:it`, `category:billing`, `channel:voice`,
    /// `tier:gold`…) → level 1–5.
    pub skills: BTreeMap<String, u8>,
    pub capacity: Capacity,
    /// Open conversations assigned to them now, per channel.
    pub load: BTreeMap<Channel, u32>,
    pub last_assigned_at: Option<OffsetDateTime>,
}

impl Agent {
    pub fn capacity_for(&self, channel: Channel) -> u32 {
        self.capacity.get(&channel).copied().unwrap_or_else(|| default_capacity(channel))
    }

    pub fn load_on(&self, channel: Channel) -> u32 {
        self.load.get(&channel).copied().unwrap_or(0)
    }

    pub fn has_room(&self, channel: Channel) -> bool {
        self.load_on(channel) < self.capacity_for(channel)
    }

    /// How full they are on `channel`, 0–1.
    fn utilisation(&self, channel: Channel) -> f32 {
        match self.capacity_for(channel) {
            0 => 1.0,
            c => self.load_on(channel) as f32 / c as f32,
        }
    }

    fn total_load(&self) -> u32 {
        self.load.values().sum()
    }

    fn level(&self, skill: &str) -> u8 {
        self.skills.get(skill).copied().unwrap_or(0)
    }
}

/// A skill a conversation needs, at least at `min_level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Requirement {
    pub skill: String,
    pub min_level: u8,
}

/// Which facts of a conversation become required skills, for a team that
/// routes by skills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkillsPolicy {
    /// Require `language:<the customer's language>`.
    #[serde(default = "yes")]
    pub language: bool,
    /// Require `category:<the conversation's category>`.
    #[serde(default = "yes")]
    pub category: bool,
    /// Require `channel:<the channel>`.
    #[serde(default)]
    pub channel: bool,
    /// Contact attributes that require a skill of the same name and value:
    /// `tier` makes a customer with `tier: gold` require `tier:gold`.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// The level each requirement asks for.
    #[serde(default = "one")]
    pub min_level: u8,
    #[serde(default = "any_agent")]
    pub fallback: Fallback,
}

fn yes() -> bool {
    true
}
fn one() -> u8 {
    1
}
fn any_agent() -> Fallback {
    Fallback::AnyAgent
}

impl Default for SkillsPolicy {
    fn default() -> Self {
        SkillsPolicy { language: true, category: true, channel: false, attributes: Vec::new(), min_level: 1, fallback: Fallback::AnyAgent }
    }
}

/// What a conversation's requirements are made from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFacts<'a> {
    pub language: Option<&'a str>,
    pub category: Option<&'a str>,
    pub channel: Option<Channel>,
    pub attributes: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// A skill name's value part: lower case, spaces as `-`.
fn skill_value(value: &str) -> String {
    value.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join("-")
}

impl SkillsPolicy {
    pub fn requirements(&self, facts: &ConversationFacts<'_>) -> Vec<Requirement> {
        let mut skills = Vec::new();
        if self.language
            && let Some(language) = facts.language
        {
            skills.push(format!("language:{}", skill_value(language)));
        }
        if self.category
            && let Some(category) = facts.category
        {
            skills.push(format!("category:{}", skill_value(category)));
        }
        if self.channel
            && let Some(channel) = facts.channel
        {
            skills.push(format!("channel:{channel}"));
        }
        for name in &self.attributes {
            let value = facts.attributes.and_then(|a| a.get(name));
            let value = match value {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => skill_value(s),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            skills.push(format!("{}:{value}", skill_value(name)));
        }
        let min_level = self.min_level.clamp(1, MAX_LEVEL);
        skills.into_iter().map(|skill| Requirement { skill, min_level }).collect()
    }
}

/// A conversation waiting in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub id: ConversationId,
    pub channel: Channel,
    pub priority: Priority,
    pub queued_at: OffsetDateTime,
    pub requirements: Vec<Requirement>,
}

/// Highest priority first; among equals, the longest waiting first.
pub fn queue_order(waiting: &mut [Waiting]) {
    waiting.sort_by(|a, b| rank(b.priority).cmp(&rank(a.priority)).then(a.queued_at.cmp(&b.queued_at)).then(a.id.cmp(&b.id)));
}

/// What routing decided for one conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Assign {
        agent: UserId,
        reason: String,
    },
    /// Nobody can take it now; it stays in the queue.
    Wait {
        reason: String,
    },
}

/// A team's routing settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub strategy: Strategy,
    pub skills: SkillsPolicy,
}

fn describe(requirements: &[Requirement]) -> String {
    requirements.iter().map(|r| format!("{} ≥ {}", r.skill, r.min_level)).collect::<Vec<_>>().join(", ")
}

/// Picks an agent for `conversation` among `agents`.
pub fn decide(policy: &Policy, agents: &[Agent], conversation: &Waiting) -> Decision {
    let channel = conversation.channel;
    let available: Vec<&Agent> = agents.iter().filter(|a| a.presence == Presence::Online && a.has_room(channel)).collect();
    if available.is_empty() {
        let online = agents.iter().filter(|a| a.presence == Presence::Online).count();
        let reason = if online == 0 {
            "no agent of the team is online".to_owned()
        } else {
            format!("all {online} online agents are at their limit for {channel}")
        };
        return Decision::Wait { reason };
    }
    match policy.strategy {
        Strategy::RoundRobin => {
            let agent = round_robin(&available);
            let since = match agent.last_assigned_at {
                None => "never given one before".to_owned(),
                Some(_) => "the longest since their last one".to_owned(),
            };
            Decision::Assign { agent: agent.id, reason: format!("round robin: {} is next ({since})", agent.name) }
        }
        Strategy::LeastBusy => {
            let agent = least_busy(&available, channel);
            Decision::Assign { agent: agent.id, reason: least_busy_reason(agent, channel) }
        }
        Strategy::Skills => {
            let required = &conversation.requirements;
            let qualified: Vec<&Agent> =
                available.iter().copied().filter(|a| required.iter().all(|r| a.level(&r.skill) >= r.min_level)).collect();
            if let Some(agent) = best_qualified(&qualified, required, channel) {
                let reason = if required.is_empty() {
                    format!("skills: nothing particular needed; {}", least_busy_reason(agent, channel))
                } else {
                    let levels = required.iter().map(|r| format!("{} {}", r.skill, agent.level(&r.skill))).collect::<Vec<_>>().join(", ");
                    format!("skills: {} is the most qualified available ({levels}) of {} qualified", agent.name, qualified.len())
                };
                return Decision::Assign { agent: agent.id, reason };
            }
            match policy.skills.fallback {
                Fallback::Wait => Decision::Wait { reason: format!("nobody available has {}", describe(required)) },
                Fallback::AnyAgent => {
                    let agent = least_busy(&available, channel);
                    Decision::Assign {
                        agent: agent.id,
                        reason: format!(
                            "skills: nobody available has {}; fallback to the least busy: {}",
                            describe(required),
                            least_busy_reason(agent, channel)
                        ),
                    }
                }
            }
        }
    }
}

fn round_robin<'a>(available: &[&'a Agent]) -> &'a Agent {
    // `None` (never assigned) sorts first.
    available.iter().copied().min_by(|a, b| a.last_assigned_at.cmp(&b.last_assigned_at).then(a.id.cmp(&b.id))).unwrap_or(available[0])
}

fn least_busy<'a>(available: &[&'a Agent], channel: Channel) -> &'a Agent {
    available
        .iter()
        .copied()
        .min_by(|a, b| {
            a.utilisation(channel)
                .total_cmp(&b.utilisation(channel))
                .then(a.total_load().cmp(&b.total_load()))
                .then(a.last_assigned_at.cmp(&b.last_assigned_at))
                .then(a.id.cmp(&b.id))
        })
        .unwrap_or(available[0])
}

fn least_busy_reason(agent: &Agent, channel: Channel) -> String {
    format!("least busy: {} has {} of {} {channel} conversations", agent.name, agent.load_on(channel), agent.capacity_for(channel))
}

fn best_qualified<'a>(qualified: &[&'a Agent], required: &[Requirement], channel: Channel) -> Option<&'a Agent> {
    let score = |a: &Agent| required.iter().map(|r| u32::from(a.level(&r.skill))).sum::<u32>();
    qualified.iter().copied().min_by(|a, b| {
        score(b)
            .cmp(&score(a))
            .then(a.utilisation(channel).total_cmp(&b.utilisation(channel)))
            .then(a.last_assigned_at.cmp(&b.last_assigned_at))
            .then(a.id.cmp(&b.id))
    })
}

/// Routes a whole queue: each conversation in [`queue_order`], with every
/// assignment counted against the agent before the next decision, so no
/// agent is given more than their capacity. Returns a decision per
/// conversation, in queue order.
pub fn route_queue(policy: &Policy, agents: &mut [Agent], waiting: &mut [Waiting], now: OffsetDateTime) -> Vec<(ConversationId, Decision)> {
    queue_order(waiting);
    let mut out = Vec::with_capacity(waiting.len());
    for conversation in waiting.iter() {
        let decision = decide(policy, agents, conversation);
        if let Decision::Assign { agent, .. } = &decision
            && let Some(a) = agents.iter_mut().find(|a| a.id == *agent)
        {
            *a.load.entry(conversation.channel).or_default() += 1;
            a.last_assigned_at = Some(now);
        }
        out.push((conversation.id, decision));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn agent(name: &str, presence: Presence) -> Agent {
        Agent {
            id: UserId::new(),
            name: name.into(),
            presence,
            skills: BTreeMap::new(),
            capacity: Capacity::new(),
            load: BTreeMap::new(),
            last_assigned_at: None,
        }
    }

    fn waiting(channel: Channel, priority: Priority, minute: u8) -> Waiting {
        Waiting {
            id: ConversationId::new(),
            channel,
            priority,
            queued_at: datetime!(2026-03-10 09:00 UTC) + time::Duration::minutes(minute.into()),
            requirements: Vec::new(),
        }
    }

    fn policy(strategy: Strategy) -> Policy {
        Policy { strategy, skills: SkillsPolicy::default() }
    }

    fn assigned(d: &Decision) -> UserId {
        match d {
            Decision::Assign { agent, .. } => *agent,
            Decision::Wait { reason } => panic!("waited: {reason}"),
        }
    }

    #[test]
    fn the_queue_is_priority_then_waiting_time() {
        let mut q = vec![
            waiting(Channel::Email, Priority::Normal, 1),
            waiting(Channel::Email, Priority::Urgent, 5),
            waiting(Channel::Email, Priority::Normal, 0),
        ];
        let ids: Vec<ConversationId> = vec![q[1].id, q[2].id, q[0].id];
        queue_order(&mut q);
        assert_eq!(q.iter().map(|w| w.id).collect::<Vec<_>>(), ids);
    }

    #[test]
    fn round_robin_takes_turns() {
        let mut agents = vec![agent("Anna", Presence::Online), agent("Bruno", Presence::Online), agent("Carla", Presence::Away)];
        agents[0].last_assigned_at = Some(datetime!(2026-03-10 08:00 UTC));
        let mut q: Vec<Waiting> = (0..4).map(|m| waiting(Channel::Email, Priority::Normal, m)).collect();
        let out = route_queue(&policy(Strategy::RoundRobin), &mut agents, &mut q, datetime!(2026-03-10 09:30 UTC));
        let who: Vec<UserId> = out.iter().map(|(_, d)| assigned(d)).collect();
        assert_eq!(who[0], agents[1].id, "Bruno never had one");
        assert_eq!(who[1], agents[0].id);
        assert!(who.iter().all(|w| *w != agents[2].id), "away agents get nothing");
        assert!(matches!(&out[0].1, Decision::Assign { reason, .. } if reason.contains("Bruno is next")));
    }

    #[test]
    fn least_busy_respects_capacity_per_channel() {
        let mut anna = agent("Anna", Presence::Online);
        anna.load.insert(Channel::WebChat, 2);
        let mut bruno = agent("Bruno", Presence::Online);
        bruno.load.insert(Channel::WebChat, 1);
        bruno.capacity.insert(Channel::WebChat, 2);
        let mut agents = vec![anna.clone(), bruno.clone()];
        // Bruno has 1 of 2 (50%), Anna 2 of 3 (67%): Bruno, then Anna, then nobody.
        let mut q: Vec<Waiting> = (0..3).map(|m| waiting(Channel::WebChat, Priority::Normal, m)).collect();
        let out = route_queue(&policy(Strategy::LeastBusy), &mut agents, &mut q, datetime!(2026-03-10 09:30 UTC));
        assert_eq!(assigned(&out[0].1), bruno.id);
        assert_eq!(assigned(&out[1].1), anna.id);
        assert!(matches!(&out[2].1, Decision::Wait { reason } if reason.contains("at their limit for web_chat")), "{:?}", out[2]);
        assert!(agents.iter().all(|a| a.load_on(Channel::WebChat) <= a.capacity_for(Channel::WebChat)));
        // A call needs a free line: one each by default.
        let call = waiting(Channel::Voice, Priority::Normal, 0);
        agents[0].load.insert(Channel::Voice, 1);
        assert_eq!(assigned(&decide(&policy(Strategy::LeastBusy), &agents, &call)), agents[1].id);
    }

    #[test]
    fn skills_pick_the_most_qualified_and_fall_back_as_told() {
        let mut anna = agent("Anna", Presence::Online);
        anna.skills.insert("language:it".into(), 2);
        anna.skills.insert("category:billing".into(), 1);
        anna.load.insert(Channel::Email, 2);
        let mut bruno = agent("Bruno", Presence::Online);
        bruno.skills.insert("language:it".into(), 5);
        bruno.skills.insert("category:billing".into(), 4);
        bruno.load.insert(Channel::Email, 1);
        let carla = agent("Carla", Presence::Online);
        let agents = vec![anna.clone(), bruno.clone(), carla.clone()];
        let mut skills = SkillsPolicy { attributes: vec!["tier".into()], ..SkillsPolicy::default() };
        let mut attributes = serde_json::Map::new();
        attributes.insert("tier".into(), "Gold".into());
        let facts = ConversationFacts { language: Some("it"), category: Some("billing"), channel: Some(Channel::Email), attributes: None };
        let mut conversation = waiting(Channel::Email, Priority::High, 0);
        conversation.requirements = skills.requirements(&facts);
        let p = Policy { strategy: Strategy::Skills, skills: skills.clone() };
        let d = decide(&p, &agents, &conversation);
        assert_eq!(assigned(&d), bruno.id);
        assert!(
            matches!(&d, Decision::Assign { reason, .. } if reason.contains("language:it 5") && reason.contains("2 qualified")),
            "{d:?}"
        );

        // A gold customer: nobody has tier:gold.
        let facts = ConversationFacts { attributes: Some(&attributes), ..facts };
        conversation.requirements = skills.requirements(&facts);
        assert!(conversation.requirements.iter().any(|r| r.skill == "tier:gold"));
        let d = decide(&p, &agents, &conversation);
        assert_eq!(assigned(&d), carla.id, "the least busy, with the reason");
        assert!(matches!(&d, Decision::Assign { reason, .. } if reason.contains("nobody available has") && reason.contains("tier:gold")));
        skills.fallback = Fallback::Wait;
        let p = Policy { strategy: Strategy::Skills, skills };
        assert!(matches!(decide(&p, &agents, &conversation), Decision::Wait { reason } if reason.contains("tier:gold ≥ 1")));
    }

    #[test]
    fn nobody_online_means_waiting() {
        let agents = vec![agent("Anna", Presence::Offline), agent("Bruno", Presence::Away)];
        let d = decide(&policy(Strategy::RoundRobin), &agents, &waiting(Channel::Email, Priority::Normal, 0));
        assert_eq!(d, Decision::Wait { reason: "no agent of the team is online".into() });
    }

    #[test]
    fn skill_policies_read_from_json_with_defaults() {
        let p: SkillsPolicy = serde_json::from_str(r#"{"attributes":["tier"]}"#).unwrap();
        assert_eq!(p, SkillsPolicy { attributes: vec!["tier".into()], ..SkillsPolicy::default() });
    }
}

//! EPDS after birth: one question per screen, scored in Rust, safety screen first whenever item
//! 10 is above 0.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, VecModel};

use super::Ctx;
use crate::clinical::epds::{self, ITEMS};
use crate::{AppWindow, Contact, EpdsAdapter, EpdsHistoryRow};

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let adapter = ui.global::<EpdsAdapter>();
    adapter.set_cutoff(i32::from(ctx.config.epds.cutoff));
    let contacts: Vec<Contact> = ctx
        .config
        .crisis_contacts
        .iter()
        .map(|c| Contact { label: c.label.as_str().into(), phone: c.phone.as_str().into() })
        .collect();
    adapter.set_crisis_contacts(ModelRc::new(VecModel::from(contacts)));

    let c = ctx.clone();
    adapter.on_start(move || {
        *c.epds_answers.borrow_mut() = [None; ITEMS];
        c.with_ui(|ui| {
            let a = ui.global::<EpdsAdapter>();
            a.set_current(0);
            a.set_step(1);
        });
        push_answers(&c);
    });
    let c = ctx.clone();
    adapter.on_choose(move |item, option| choose(&c, item, option));
    let c = ctx.clone();
    adapter.on_previous(move || {
        c.with_ui(|ui| {
            let a = ui.global::<EpdsAdapter>();
            if a.get_current() > 0 {
                a.set_current(a.get_current() - 1);
            } else {
                a.set_step(0);
            }
        });
    });
    let c = ctx.clone();
    adapter.on_show_result(move || c.with_ui(|ui| ui.global::<EpdsAdapter>().set_step(2)));
    let c = ctx.clone();
    adapter.on_done(move || {
        c.with_ui(|ui| ui.global::<EpdsAdapter>().set_step(0));
        refresh_history(&c);
    });
}

pub(super) fn enter(ctx: &Rc<Ctx>) {
    // A questionnaire half-way through stays where it was; a finished one goes back to the start.
    ctx.with_ui(|ui| {
        let a = ui.global::<EpdsAdapter>();
        if a.get_step() != 1 {
            a.set_step(0);
        }
    });
    refresh_history(ctx);
}

fn push_answers(ctx: &Ctx) {
    let answers: Vec<i32> =
        ctx.epds_answers.borrow().iter().map(|a| a.map_or(-1, i32::from)).collect();
    ctx.with_ui(|ui| ui.global::<EpdsAdapter>().set_answers(ModelRc::new(VecModel::from(answers))));
}

fn choose(ctx: &Rc<Ctx>, item: i32, option: i32) {
    let (Ok(index), Ok(option)) = (usize::try_from(item), u8::try_from(option)) else { return };
    if index >= ITEMS || option >= epds::OPTIONS {
        return;
    }
    ctx.epds_answers.borrow_mut()[index] = Some(option);
    push_answers(ctx);
    if index + 1 < ITEMS {
        ctx.with_ui(|ui| ui.global::<EpdsAdapter>().set_current(index as i32 + 1));
        return;
    }
    let answers = *ctx.epds_answers.borrow();
    let score = match epds::score(&answers, ctx.config.epds.cutoff) {
        Ok(s) => s,
        Err(e) => {
            // An unanswered earlier item (she went back and forth): show it.
            if let epds::EpdsError::Unanswered { item } = e {
                ctx.with_ui(|ui| ui.global::<EpdsAdapter>().set_current(item as i32 - 1));
            }
            return;
        }
    };
    let now = ctx.clock.now();
    let chosen: [u8; ITEMS] = answers.map(|a| a.unwrap_or(0));
    if let Err(e) = ctx.store.borrow_mut().insert_epds(chosen, score.total, score.item10, now, now)
    {
        ctx.report("saving the questionnaire", &e);
    }
    ctx.with_ui(|ui| {
        let a = ui.global::<EpdsAdapter>();
        a.set_total(i32::from(score.total));
        a.set_positive(score.positive);
        // Item 10 above 0: the safety screen comes first, whatever the total.
        a.set_step(if score.needs_safety_screen { 3 } else { 2 });
    });
}

pub(super) fn refresh_history(ctx: &Rc<Ctx>) {
    let lang = ctx.language.get();
    let records = match ctx.store.borrow().epds_records() {
        Ok(r) => r,
        Err(e) => return ctx.report("reading questionnaires", &e),
    };
    let cutoff = ctx.config.epds.cutoff;
    let rows: Vec<EpdsHistoryRow> = records
        .iter()
        .rev()
        .map(|r| EpdsHistoryRow {
            date: lang.long_date(r.taken_at.date_naive()).into(),
            total: i32::from(r.total),
            positive: r.total >= cutoff,
            item10: r.item10 > 0,
        })
        .collect();
    ctx.with_ui(|ui| ui.global::<EpdsAdapter>().set_history(ModelRc::new(VecModel::from(rows))));
}

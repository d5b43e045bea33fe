//! Commerce: what a visitor can buy and how much it costs — flights named in text
//! (`flights`, `airports`), the price formula (`pricing`), server-priced quotes (`quotes`),
//! the cart (`cart`) and the quote assistant that answers chat messages (`assistant`).

pub mod airports;
pub mod assistant;
pub mod cart;
pub mod flights;
pub mod pricing;
pub mod quotes;

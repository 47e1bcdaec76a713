"""Streamlit app (placeholder until search lands): browse how the posts folder is split into passages."""

import os

import streamlit as st

from tripsearch.passages import split_post
from tripsearch.posts import read_folder

posts_dir = os.environ.get("TRIPSEARCH_POSTS", "sample/posts")
st.title("tripsearch")
result = read_folder(posts_dir)
st.caption(f"{len(result.posts)} posts in {posts_dir}")
for post in result.posts:
    with st.expander(post.meta.title):
        for passage in split_post(post):
            st.markdown(f"**{' › '.join(passage.heading_path) or post.meta.title}** — lines {passage.start_line}–{passage.end_line}")
            st.text(passage.text)

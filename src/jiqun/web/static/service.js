// The contact form: picking a message template puts its prefilled message in the text box.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-message-target]");
  if (!select) return;
  const option = select.selectedOptions[0];
  const box = document.getElementById(select.dataset.messageTarget);
  if (option && box && option.dataset.message) box.value = option.dataset.message;
});

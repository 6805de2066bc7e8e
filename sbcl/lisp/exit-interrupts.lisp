;;;; INTERRUPT-THREAD and TERMINATE-THREAD racing thread exit, thousands of
;;;; times, while another thread collects garbage (stops the world) in a
;;;; loop. Exits 104 when it passes, like upstream's test files.
;;;;
;;;; Each target thread runs a short computation; the main thread interrupts
;;;; it a few times (each interrupt function counts itself in a cell only
;;;; that thread writes) and then terminates it, at random moments around
;;;; its exit. Passing means:
;;;;  - no hang (the runner's time limit) and no fatal error (the runtime
;;;;    would lose or die: exit status other than 104);
;;;;  - no error in any thread: a target catches and counts every error;
;;;;    an error in any other thread ends the process (--disable-debugger);
;;;;  - INTERRUPT-THREAD either accepts or signals INTERRUPT-THREAD-ERROR
;;;;    (ESRCH, the thread has finished), nothing else;
;;;;  - with libsbthread (found by its extension symbols): its counters
;;;;    agree with the Lisp side, every accepted interrupt ran or was
;;;;    dropped because the thread's function had returned, exactly once.
;;;;
;;;; SBCL_TEST_ARGS: the number of target threads (default 1000).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *targets*
  (test-arg 1000))

;;; libsbthread's counters: interrupts_sent and interrupts_discarded of struct
;;; sbthread_stats.
(defun sbthread-counters ()
  (let ((words (sbthread-stat-words :interrupts-sent :interrupts-discarded)))
    (when words
      (list :sent (first words) :dropped (second words)))))

(defvar *collecting* t)
(defvar *collections* 0)

(defun collector ()
  (loop while *collecting*
        do (sb-ext:gc)
           (incf *collections*)
           (sleep 0.002)))

(defun target-function (cell errors work)
  (lambda ()
    (handler-case
        (let ((x 0))
          (dotimes (i work) (setf x (logxor x i)))
          (setf (cdr cell) x))
      (error (e)
        (incf (car errors))
        (format t "~&error in target thread: ~A~%" e)))))

(defun run ()
  (let ((collector (sb-thread:make-thread #'collector :name "collector"))
        (before (sbthread-counters))
        (accepted 0) (accepted-quits 0) (refused 0) (ran 0) (errors (list 0))
        (start (get-internal-real-time)))
    (dotimes (i *targets*)
      (let* ((cell (list 0))
             (thread (sb-thread:make-thread (target-function cell errors (random 20000)))))
        (flet ((interrupt (function quit-p)
                 (handler-case
                     (progn (sb-thread:interrupt-thread thread function)
                            (incf accepted)
                            (when quit-p (incf accepted-quits)))
                   (sb-thread:interrupt-thread-error ()
                     (incf refused)))))
          (dotimes (k (random 4))
            (when (zerop (random 2)) (sleep 0.0001))
            ;; Runs in the target: only it writes its cell.
            (interrupt (lambda () (incf (car cell))) nil))
          (when (zerop (random 3)) (sleep 0.0001))
          (interrupt #'sb-ext:quit t))
        (wait-until-dead thread)
        (incf ran (car cell))))
    (setf *collecting* nil)
    (wait-until-dead collector)
    (let ((after (sbthread-counters))
          (seconds (/ (- (get-internal-real-time) start) 1000.0)))
      (format t "~&exit-interrupts: ~D threads in ~,1F s, ~D collections; interrupts: ~D accepted ~
                 (~D of them TERMINATE-THREAD), ~D refused (thread finished); ~D counted runs ~
                 of the ~D others; ~D error(s) in targets~%"
              *targets* seconds *collections* accepted accepted-quits refused ran
              (- accepted accepted-quits) (car errors))
      (assert (zerop (car errors)))
      (assert (<= ran (- accepted accepted-quits)))
      (cond
        ((and before after)
         (let ((sent (- (getf after :sent) (getf before :sent)))
               (dropped (- (getf after :dropped) (getf before :dropped))))
           (format t "~&exit-interrupts: libsbthread counted ~D accepted, ~D dropped at exit~%"
                   sent dropped)
           (assert (= sent accepted))
           ;; Every accepted interrupt ran or was dropped. The quits that
           ;; ran are not counted on the Lisp side: they are the rest.
           (let ((quits-ran (- accepted dropped ran)))
             (assert (<= 0 quits-ran accepted-quits)))))
        (t
         (format t "~&exit-interrupts: not libsbthread (no sbthread_stats): counters not checked~%"))))))

(run)
(sb-ext:quit :unix-status 104)
